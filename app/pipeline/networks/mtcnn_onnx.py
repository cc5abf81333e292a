"""MTCNN on ONNX Runtime: mtcnn 1.0's cascade (PNet, RNet, ONet) over a pruned image pyramid.

Pruning: a look-alike photo is about a face that is not tiny, so the pyramid levels that could only
find faces smaller than M = max(min_face_size, min_face_fraction x the shorter side) are skipped;
the levels kept are exactly mtcnn's, so what they propose is unchanged. Retry: when the pruned pass
finds no face, or its largest face is under 2 M x M in area, the skipped levels run too and the
photo is redone on the full pyramid. A face the pruned pass cannot see is under M x M, so without a
retry every missed face is under half the largest face's area, and neither main-face rule
("largest", or "central" among faces at least half as large as the largest) can change.
"""

from __future__ import annotations

import numpy as np

from app.pipeline.networks.mtcnn_candidates import ONET_MIN, ONET_PER_FACE, RNET_MIN, RNET_PER_FACE
from app.pipeline.networks.mtcnn_ops import (
    PNET_CELL,
    SCALE_FACTOR,
    area_resize,
    as_detections,
    nms,
    patches,
    pnet_boxes,
    pyramid_scales,
    regress,
    scaled_size,
    square,
)
from app.pipeline.networks.runtime import load_onnx, release_memory

THRESHOLDS = (0.6, 0.7, 0.8)  # PNet, RNet, ONet face probability, as mtcnn 1.0


class OnnxMtcnn:
    """mtcnn 1.0's detect_faces on the converted networks, with the pruned pyramid and its retry."""

    def __init__(self, weights_dir: str, min_face_size: int, min_face_fraction: float, threads: int = 1,
                 max_faces: int = 20):
        import cv2

        cv2.setNumThreads(int(threads))
        self.nets = {name: load_onnx(weights_dir, name, threads) for name in ("pnet", "rnet", "onet")}
        self.min_face_size = int(min_face_size)
        self.min_face_fraction = float(min_face_fraction)
        # Candidates bounded as for TensorFlow's cascade (app/pipeline/networks/mtcnn_candidates.py): RNet sees the most
        # confident PNet proposals, ONet the largest RNet survivors, so a crowd costs about one portrait.
        self.rnet_keep = max(RNET_PER_FACE * int(max_faces), RNET_MIN)
        self.onet_keep = max(ONET_PER_FACE * int(max_faces), ONET_MIN)
        self.detect(np.zeros((48, 48, 3), np.uint8))  # first-call set-up off the request path
        release_memory()

    def covered(self, height: int, width: int) -> float:
        """M: the smallest face side (px) the pruned pyramid is sure to find."""
        return max(float(self.min_face_size), self.min_face_fraction * min(height, width))

    def plan(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """mtcnn's scales, the mask of the usable ones (level at least 12 px) and of those the pruned pass runs.

        A usable scale is kept when a face of M px is at most 12 / 0.709 px there, so a face of M px
        still meets the level where it fills 12 to 17 px of PNet's window.
        """
        scales = pyramid_scales(height, width, self.min_face_size)
        usable = np.array([min(scaled_size(height, width, s)) >= PNET_CELL for s in scales], dtype=bool)
        limit = PNET_CELL / (SCALE_FACTOR * self.covered(height, width))
        return scales, usable, usable & (scales <= limit * (1 + 1e-9))

    def proposals(self, img: np.ndarray, scales: np.ndarray) -> list[np.ndarray]:
        """PNet's candidates at each scale, after mtcnn's per-scale suppression."""
        height, width = img.shape[:2]
        out = []
        for scale in scales:
            level = area_resize(img, *scaled_size(height, width, scale))  # from the photo, as mtcnn
            reg, prob = self.nets["pnet"].run(level[None])
            out.append(nms(pnet_boxes(reg, prob, scale, THRESHOLDS[0]), 0.5, "union", sort=False))
        return out

    def refine(self, img: np.ndarray, proposed: list[np.ndarray]) -> np.ndarray:
        """Cross-scale suppression, RNet and ONet: rows [x1, y1, x2, y2, score, 5 landmark x, 5 landmark y]."""
        rows = np.concatenate(proposed, axis=0) if proposed else np.empty((0, 5))
        rows = nms(rows, 0.7, "union")
        if len(rows) == 0:
            return np.empty((0, 15))
        rows = square(rows[:self.rnet_keep])  # by score, most confident first
        reg, prob = self.nets["rnet"].run(patches(img, rows, 24))
        rows[:, 4] = prob[:, 1]
        rows = regress(rows, reg)
        rows = square(nms(rows[rows[:, 4] > THRESHOLDS[1]], 0.7, "union"))
        if len(rows) == 0:
            return np.empty((0, 15))
        if len(rows) > self.onet_keep:  # the largest, in their order
            areas = (rows[:, 2] - rows[:, 0]) * (rows[:, 3] - rows[:, 1])
            rows = rows[np.sort(np.argsort(-areas, kind="stable")[:self.onet_keep])]
        reg, marks, prob = self.nets["onet"].run(patches(img, rows, 48))
        w, h = rows[:, 2:3] - rows[:, 0:1] + 1, rows[:, 3:4] - rows[:, 1:2] + 1
        marks = np.concatenate([w * marks[:, :5] + rows[:, 0:1] - 1, h * marks[:, 5:10] + rows[:, 1:2] - 1], axis=1)
        rows[:, 4] = prob[:, 1]
        rows = np.concatenate([regress(rows, reg), marks], axis=1)
        return nms(rows[rows[:, 4] > THRESHOLDS[2]], 0.7, "min")

    def detect_rows(self, rgb: np.ndarray) -> tuple[np.ndarray, bool]:
        """Detections as unclipped rows, and whether the full-pyramid retry ran."""
        img = (np.asarray(rgb, dtype=np.float32) - 127.5) / 128.0
        height, width = img.shape[:2]
        scales, usable, kept = self.plan(height, width)
        found = dict(zip(np.nonzero(kept)[0], self.proposals(img, scales[kept])))
        rows = self.refine(img, list(found.values()))
        skipped = np.nonzero(usable & ~kept)[0]
        m = self.covered(height, width)
        areas = (rows[:, 2] - rows[:, 0]) * (rows[:, 3] - rows[:, 1])
        if len(skipped) == 0 or (len(rows) and areas.max() >= 2 * m * m):
            return rows, False
        found.update(zip(skipped, self.proposals(img, scales[skipped])))
        return self.refine(img, [found[k] for k in sorted(found)]), True

    def detect(self, rgb: np.ndarray) -> list[dict]:
        """Faces of an RGB uint8 image in mtcnn 1.0's detect_faces format."""
        rows, _ = self.detect_rows(rgb)
        return as_detections(rows, rgb.shape[0], rgb.shape[1])


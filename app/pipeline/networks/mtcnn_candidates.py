"""Bounded face candidates for MTCNN: its NMS without the N x N matrices, and a cap before ONet.

mtcnn's `smart_nms_from_bboxes` builds several N x N float64 IoU matrices; a crowd photo gives PNet
about 8,000 proposals at the finest scale, so one call took 15 s and 4 GB. `overlap_suppress` gives
the same answer (a box is dropped when any box ranked before it overlaps it by more than the
threshold) comparing each box only with boxes whose x-range can meet its own, in blocks, in O(N)
memory. `TopCandidates` stages before RNet (most confident) and ONet (largest) keep a fixed number
of boxes per photo, so the networks' cost per photo is bounded however many faces it shows (MAX_FACES).
"""

from __future__ import annotations

import numpy as np

BLOCK = 64  # boxes compared at once against their x-window


def pair_overlap(a: np.ndarray, b: np.ndarray, method: str) -> np.ndarray:
    """IoU ("union") or intersection over the smaller area ("min") of boxes a [A, 4] x b [B, 4]."""
    inter_w = np.maximum(0, np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]))
    inter_h = np.maximum(0, np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]))
    inter = inter_w * inter_h
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    if method == "union":
        denominator = area_a[:, None] + area_b[None, :] - inter
    else:
        denominator = np.minimum(area_a[:, None], area_b[None, :])
    with np.errstate(divide="ignore", invalid="ignore"):
        return inter / denominator


def overlap_suppress(boxes: np.ndarray, threshold: float, method: str = "union") -> np.ndarray:
    """Indices (ascending) of the boxes that no earlier box overlaps by more than `threshold`.

    Boxes are [x1, y1, x2, y2] rows in rank order; mtcnn's `nms` rule, in O(N) memory.
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    n = len(boxes)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(boxes[:, 0], kind="stable")
    xs, right = boxes[order, 0], boxes[order, 2]
    suppressed = np.zeros(n, dtype=bool)
    for start in range(0, n, BLOCK):
        rows = order[start:start + BLOCK]
        hi = np.searchsorted(xs, boxes[rows, 2].max(), side="left")  # columns starting left of the rows' end
        cols = order[:hi][right[:hi] > boxes[rows, 0].min()]  # ... and ending right of the rows' start
        over = pair_overlap(boxes[rows], boxes[cols], method) > threshold
        over &= rows[:, None] < cols[None, :]  # only an earlier-ranked box suppresses a later one
        suppressed[cols[over.any(axis=0)]] = True
    return np.flatnonzero(~suppressed)


def bounded_nms(bboxes: np.ndarray, threshold: float, column_image_id: int = 0, columns_bbox=slice(1, 5),
                column_confidence: int = 5, method: str = "union", initial_sort: bool = True) -> np.ndarray:
    """Drop-in for mtcnn's `smart_nms_from_bboxes`: the same boxes kept, without N x N matrices."""
    if initial_sort:
        bboxes = bboxes[np.argsort(bboxes[:, column_confidence])[::-1]]
    kept = []
    for image_id in np.unique(bboxes[:, column_image_id]):
        mine = bboxes[bboxes[:, column_image_id] == image_id]
        kept.append(mine[overlap_suppress(mine[:, columns_bbox], threshold, method)])
    return np.concatenate(kept, axis=0) if kept else np.empty((0, 6))


def top_per_image(bboxes: np.ndarray, keep: int, by: str) -> np.ndarray:
    """The `keep` boxes ([image, x1, y1, x2, y2, score, ...] rows) of each image with the largest area
    (by="area") or score (by="score"), in their original order."""
    if len(bboxes) <= keep:
        return bboxes
    if by == "area":
        value = (bboxes[:, 3] - bboxes[:, 1]) * (bboxes[:, 4] - bboxes[:, 2])
    else:
        value = bboxes[:, 5]
    chosen = np.zeros(len(bboxes), dtype=bool)
    for image_id in np.unique(bboxes[:, 0]):
        mine = np.flatnonzero(bboxes[:, 0] == image_id)
        chosen[mine[np.argsort(-value[mine], kind="stable")[:keep]]] = True
    return bboxes[chosen]


RNET_PER_FACE = 16  # PNet proposals per wanted face that RNet checks (the most confident: PNet's
# largest proposals in a crowd are mostly boxes spanning several faces)
ONET_PER_FACE = 3  # RNet survivors per wanted face that ONet checks (the largest)
RNET_MIN, ONET_MIN = 160, 30  # however small MAX_FACES is (so the count of the others means something)


class TopCandidates:
    """An MTCNN stage that passes on only the `keep` best boxes of each photo (by area or score)."""

    id = 0

    def __init__(self, keep: int, by: str) -> None:
        self.keep = int(keep)
        self.by = by
        self.name = f"Top {keep} candidates by {by}"

    def __call__(self, bboxes_batch: np.ndarray, **kwargs) -> np.ndarray:
        """Cap the candidates (the other stages' arguments are ignored)."""
        return top_per_image(bboxes_batch, self.keep, self.by)


def bound_mtcnn(mtcnn, max_faces: int) -> None:
    """Make an mtcnn.MTCNN use the bounded NMS and check only the largest candidates for `max_faces`
    faces: RNet the RNET_PER_FACE x max_faces (at least RNET_MIN) most confident PNet proposals of a
    photo, ONet the ONET_PER_FACE x max_faces (at least ONET_MIN) largest of RNet's."""
    import mtcnn.stages.stage_onet as onet
    import mtcnn.stages.stage_pnet as pnet
    import mtcnn.stages.stage_rnet as rnet

    for module in (pnet, rnet, onet):
        module.smart_nms_from_bboxes = bounded_nms
    stages = [s for s in mtcnn._stages if not isinstance(s, TopCandidates)]
    caps = [TopCandidates(max(RNET_PER_FACE * max_faces, RNET_MIN), "score"),
            TopCandidates(max(ONET_PER_FACE * max_faces, ONET_MIN), "area")]
    if len(stages) == 3:
        stages = [stages[0], caps[0], stages[1], caps[1], stages[2]]
    mtcnn._stages = stages

"""Face detection with MTCNN and the choice of the face a photo is about."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from app.pipeline.errors import FaceTooSmall, NoFace, NoSuchFace
from app.pipeline.networks.mtcnn_candidates import bound_mtcnn
from app.pipeline.photos.crops import aligned_crop, crop_box
from app.pipeline.photos.face_box import Face
from app.pipeline.photos.imaging import Photo
from models.facenet import INPUT_SIDE

FACE_CHOICES = ("central", "largest")


class Detector:
    """MTCNN face detector built once per process: mtcnn 1.0 on TensorFlow ("tf", the reference) or
    the same networks converted to ONNX with a pruned pyramid ("onnx", app/pipeline/networks/mtcnn_onnx.py)."""

    def __init__(self, min_face_size: int, min_confidence: float, margin: float, min_face_px: int,
                 align: bool, choice: str, max_faces: int = 20, runtime: str = "tf", weights_dir: str = "",
                 min_face_fraction: float = 0.1, threads: int = 1):
        # Either way the cost is bounded however many faces a photo shows (app/pipeline/networks/mtcnn_candidates.py).
        if runtime == "onnx":
            from app.pipeline.networks.mtcnn_onnx import OnnxMtcnn

            self.cascade = OnnxMtcnn(weights_dir, min_face_size, min_face_fraction, threads, max_faces)
        else:
            from mtcnn import MTCNN  # imports TensorFlow: keep it off module import

            self._mtcnn = MTCNN(device="CPU:0")
            bound_mtcnn(self._mtcnn, max_faces)
        self.runtime = runtime
        self.min_face_size = int(min_face_size)
        self.min_confidence = float(min_confidence)
        self.margin = float(margin)
        self.min_face_px = int(min_face_px)
        self.align = bool(align)
        if choice not in FACE_CHOICES:
            raise ValueError(f"unknown face choice {choice!r}; choose one of {FACE_CHOICES}")
        self.choice = choice

    @classmethod
    def from_config(cls, config: dict, runtime: str = "tf", weights_dir: str = "") -> Detector:
        """Build a detector from the app configuration for a resolved runtime ("onnx" or "tf")."""
        return cls(config["MTCNN_MIN_FACE_SIZE"], config["DETECT_MIN_CONFIDENCE"],
                   config["CROP_MARGIN"], config["MIN_FACE_PX"], config["CROP_ALIGN"],
                   config["FACE_CHOICE"], config["MAX_FACES"], runtime, weights_dir,
                   config["DETECT_MIN_FACE_FRACTION"], config["RUNTIME_THREADS"])

    def detect_batch(self, photos: list[Photo]) -> list[list[Face]]:
        """Detect faces in several photos (TensorFlow: batched by shape); each list sorted largest first."""
        if self.runtime == "onnx":
            return [self._faces(self.cascade.detect(photo.rgb), photo.scale) for photo in photos]
        by_shape: dict[tuple, list[int]] = defaultdict(list)
        for i, photo in enumerate(photos):
            by_shape[photo.rgb.shape].append(i)
        results: list[list[Face]] = [[] for _ in photos]
        for indices in by_shape.values():
            raw = self._mtcnn.detect_faces([photos[i].rgb for i in indices],
                                           min_face_size=self.min_face_size)
            for i, dets in zip(indices, raw):
                results[i] = self._faces(dets, photos[i].scale)
        return results

    def sure_face_px(self, photo: Photo) -> float:
        """Smallest face side (px of the detection image) sure to be found: the pruned pyramid's M, else 0."""
        return self.cascade.covered(*photo.rgb.shape[:2]) if self.runtime == "onnx" else 0.0

    def detect(self, photo: Photo) -> list[Face]:
        """Detect faces in one photo, largest first."""
        return self.detect_batch([photo])[0]

    def _faces(self, detections: list[dict], scale: float) -> list[Face]:
        """Convert MTCNN's JSON output into Face objects above the confidence threshold."""
        faces = [
            Face(box=tuple(float(v) for v in d["box"]), confidence=float(d["confidence"]),
                 keypoints={k: (float(v[0]), float(v[1])) for k, v in d.get("keypoints", {}).items()},
                 scale=scale)
            for d in detections
            if float(d["confidence"]) >= self.min_confidence and d["box"][2] > 0 and d["box"][3] > 0
        ]
        return sorted(faces, key=lambda f: f.area, reverse=True)

    def main_face(self, faces: list[Face], photo: Photo) -> Face:
        """The face the photo is about; NoFace or FaceTooSmall when there is none usable.

        Only faces of at least MIN_FACE_PX count. "largest": the largest of them. "central": of
        those at least half as large as the largest, the one nearest the photo's centre (the
        subject of a portrait, not a bigger bystander).
        """
        if not faces:
            raise NoFace("No face was found in this photo. Please upload a clear, front-facing photo"
                         " of one person.")
        side = lambda f: min(f.box[2], f.box[3]) * f.scale  # noqa: E731 (original pixels)
        usable = [f for f in faces if side(f) >= self.min_face_px]
        if not usable:
            raise FaceTooSmall(f"The face in this photo is only {side(faces[0]):.0f} px across; at least"
                               f" {self.min_face_px} px is needed. Please use a closer or larger photo.")
        if self.choice == "largest":
            return usable[0]
        cx, cy = photo.width / 2, photo.height / 2
        return min((f for f in usable if f.area >= 0.5 * usable[0].area),
                   key=lambda f: (f.box[0] + f.box[2] / 2 - cx) ** 2 + (f.box[1] + f.box[3] / 2 - cy) ** 2)

    def pick_face(self, faces: list[Face], index: int) -> Face:
        """The face a visitor chose by its index in `faces` (largest first); 422 errors when there is
        no such face or it is too small to compare."""
        if not faces:
            raise NoFace("No face was found in this photo. Please upload a clear, front-facing photo"
                         " of one person.")
        if not 0 <= index < len(faces):
            count = "1 face (number 0)" if len(faces) == 1 else f"{len(faces)} faces (numbered 0 to {len(faces) - 1})"
            raise NoSuchFace(f"There is no face {index} in this photo: it has {count}.", field="face")
        face = faces[index]
        side = min(face.box[2], face.box[3]) * face.scale
        if side < self.min_face_px:
            raise FaceTooSmall(f"Face {index} is only {side:.0f} px across; at least {self.min_face_px} px is "
                               "needed to compare it. Please choose another face or a closer photo.", field="face")
        return face

    def crop(self, photo: Photo, face: Face, size: int = INPUT_SIDE,
             margin: float | None = None, align: bool | None = None) -> np.ndarray:
        """Crop the face with a margin (fraction of the box's longer side), optionally eye-levelled."""
        margin = self.margin if margin is None else margin
        align = self.align if align is None else align
        if align and "left_eye" in face.keypoints and "right_eye" in face.keypoints:
            return aligned_crop(photo.rgb, face, margin, size)
        return crop_box(photo.rgb, face.box, margin, size)

"""Face detection with MTCNN, choice of the main face, and the margin crop FaceNet expects."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from PIL import Image

from app.errors import FaceTooSmall, NoFace
from app.imaging import Photo

FACENET_SIZE = 160  # input side of the FaceNet network, fixed by its weights
FACE_CHOICES = ("central", "largest")


@dataclass(frozen=True)
class Face:
    """One detected face, in working-image pixels, with the factor back to the original."""

    box: tuple[float, float, float, float]  # x, y, w, h (working pixels)
    confidence: float
    keypoints: dict[str, tuple[float, float]]
    scale: float = 1.0

    @property
    def area(self) -> float:
        """Box area in working pixels."""
        return self.box[2] * self.box[3]

    def original_box(self) -> list[int]:
        """Box as [x, y, w, h] in the original photo's pixels."""
        return [int(round(v * self.scale)) for v in self.box]

    def to_dict(self) -> dict:
        """JSON form: box in original pixels and confidence."""
        return {"box": self.original_box(), "confidence": round(self.confidence, 4)}


class Detector:
    """MTCNN face detector built once per process."""

    def __init__(self, min_face_size: int = 20, min_confidence: float = 0.8,
                 margin: float = 0.2, min_face_px: int = 32, align: bool = False,
                 choice: str = "central"):
        from mtcnn import MTCNN  # imports TensorFlow: keep it off module import

        self._mtcnn = MTCNN(device="CPU:0")
        self.min_face_size = int(min_face_size)
        self.min_confidence = float(min_confidence)
        self.margin = float(margin)
        self.min_face_px = int(min_face_px)
        self.align = bool(align)
        if choice not in FACE_CHOICES:
            raise ValueError(f"unknown face choice {choice!r}; choose one of {FACE_CHOICES}")
        self.choice = choice

    @classmethod
    def from_config(cls, config: dict) -> "Detector":
        """Build a detector from the app configuration."""
        return cls(config["MTCNN_MIN_FACE_SIZE"], config["DETECT_MIN_CONFIDENCE"],
                   config["CROP_MARGIN"], config["MIN_FACE_PX"], config["CROP_ALIGN"],
                   config["FACE_CHOICE"])

    def detect_batch(self, photos: list[Photo]) -> list[list[Face]]:
        """Detect faces in several photos (batched by shape); each list sorted largest first."""
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

    def crop(self, photo: Photo, face: Face, size: int = FACENET_SIZE,
             margin: float | None = None, align: bool | None = None) -> np.ndarray:
        """Crop the face with a margin (fraction of the box's longer side), optionally eye-levelled."""
        margin = self.margin if margin is None else margin
        align = self.align if align is None else align
        if align and "left_eye" in face.keypoints and "right_eye" in face.keypoints:
            return aligned_crop(photo.rgb, face, margin, size)
        return crop_box(photo.rgb, face.box, margin, size)


def crop_box(rgb: np.ndarray, box: tuple[float, float, float, float], margin: float,
             size: int) -> np.ndarray:
    """Crop box plus margin on every side (clipped to the image), resized to size x size."""
    x, y, w, h = box
    pad = margin * max(w, h)
    height, width = rgb.shape[:2]
    x1, y1 = max(int(round(x - pad)), 0), max(int(round(y - pad)), 0)
    x2, y2 = min(int(round(x + w + pad)), width), min(int(round(y + h + pad)), height)
    patch = Image.fromarray(rgb[y1:y2, x1:x2])
    return np.asarray(patch.resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)


def aligned_crop(rgb: np.ndarray, face: Face, margin: float, size: int) -> np.ndarray:
    """Rotate about the box centre so the eyes are level, then crop box plus margin (zero-padded)."""
    (lx, ly), (rx, ry) = face.keypoints["left_eye"], face.keypoints["right_eye"]
    angle = float(np.degrees(np.arctan2(ry - ly, rx - lx)))
    x, y, w, h = face.box
    cx, cy = x + w / 2, y + h / 2
    half = max(w, h) * (0.5 + margin) * 1.5  # room for the rotation's corners
    region = (int(round(cx - half)), int(round(cy - half)), int(round(cx + half)), int(round(cy + half)))
    patch = Image.fromarray(rgb).crop(region)
    patch = patch.rotate(angle, resample=Image.Resampling.BILINEAR,
                         center=(cx - region[0], cy - region[1]))
    pad = margin * max(w, h)
    box = (x - pad - region[0], y - pad - region[1], x + w + pad - region[0], y + h + pad - region[1])
    return np.asarray(patch.crop(tuple(int(round(v)) for v in box)).resize(
        (size, size), Image.Resampling.BILINEAR), dtype=np.uint8)

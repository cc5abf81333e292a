"""Face crops: the margin crop FaceNet expects, the eye-levelled variant, and display thumbnails."""

from __future__ import annotations

import numpy as np
from PIL import Image

from app.pipeline.photos.face_box import Face
from app.pipeline.photos.imaging import Photo

THUMB_MARGIN = 0.45  # thumbnails show some hair and chin around the box


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


def face_thumbnail(photo: Photo, face: Face, size: int) -> np.ndarray:
    """Square, face-centred RGB thumbnail of a detected face."""
    x, y, w, h = face.box
    side = max(w, h) * (1 + 2 * THUMB_MARGIN)
    side = min(side, photo.width, photo.height)
    cx, cy = x + w / 2, y + h / 2
    left = min(max(cx - side / 2, 0), photo.width - side)
    top = min(max(cy - side / 2, 0), photo.height - side)
    return crop_box(photo.rgb, (left, top, side, side), 0.0, size)

"""Costly-but-small inputs made on the fly from the demo photos (no binary fixtures in git).

Shared by the tests (tests/pipeline/test_budgets.py, tests/api/test_budgets_api.py) and by
bench/hostile.py, which times them and measures peak memory.
"""

from __future__ import annotations

import glob
import io
import os

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "instance", "datasets", "5-celebrity-faces")


def demo_faces() -> list[Image.Image]:
    """Every demo photo (train and val), as RGB images."""
    files = sorted(glob.glob(os.path.join(DEMO, "*", "*", "*")))
    return [Image.open(f).convert("RGB") for f in files]


def face_tile(img: Image.Image, side: int) -> Image.Image:
    """A square tile around a portrait's face: the photo's upper middle, where the demo faces are."""
    w, h = img.size
    s = min(w, h)
    top = max(0, min(h - s, int(h * 0.08)))
    return img.crop(((w - s) // 2, top, (w - s) // 2 + s, top + s)).resize((side, side), Image.Resampling.BILINEAR)


def crowd_jpeg(grid: int = 25, tile: int = 72, quality: int = 80, offset: int = 0) -> bytes:
    """A grid x grid crowd of real demo faces (625 by default) as one JPEG (under 1 MB); `offset`
    starts the tiling at another photo, for crowds that differ."""
    faces = demo_faces()
    canvas = Image.new("RGB", (grid * tile, grid * tile), (128, 128, 128))
    for k in range(grid * grid):
        canvas.paste(face_tile(faces[(k + offset) % len(faces)], tile), ((k % grid) * tile, (k // grid) * tile))
    buf = io.BytesIO()
    canvas.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def flat_image(side: int = 6300, fmt: str = "WEBP", mode: str = "RGB") -> bytes:
    """A flat colour image that is a few KB on the wire and side x side pixels decoded."""
    buf = io.BytesIO()
    Image.new(mode, (side, side), 200 if mode in ("L", "P") else (200, 180, 160)).save(
        buf, fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    return buf.getvalue()


def animated_gif(side: int = 6300, frames: int = 3) -> bytes:
    """A small animated GIF whose frames are each side x side pixels."""
    imgs = [Image.new("P", (side, side), k) for k in range(frames)]
    buf = io.BytesIO()
    imgs[0].save(buf, "GIF", save_all=True, append_images=imgs[1:])
    return buf.getvalue()


def framed_face(width: int, height: int, fmt: str) -> bytes:
    """A demo portrait (enlarged to a third of the height) in the middle of a flat width x height canvas."""
    face = Image.open(io.BytesIO(portrait())).convert("RGB")
    face = face.resize((face.width * height // (3 * face.height), height // 3), Image.Resampling.BILINEAR)
    canvas = Image.new("RGB", (width, height), (90, 110, 130))
    canvas.paste(face, ((width - face.width) // 2, (height - face.height) // 2))
    buf = io.BytesIO()
    canvas.save(buf, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buf.getvalue()


def portrait(index: int = 0) -> bytes:
    """One demo val photo's bytes (a single clear face)."""
    files = sorted(glob.glob(os.path.join(DEMO, "val", "*", "*")))
    with open(files[index], "rb") as f:
        return f.read()


def noise_rgb(side: int, seed: int = 0) -> np.ndarray:
    """Random pixels (no face)."""
    return np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)

"""Decode uploaded bytes into an upright RGB array, within size limits."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageMode, ImageOps

from app.pipeline.errors import BadRequest, DecodeTooLarge, ImageTooLarge, LooksLikeError, UnreadableImage

# PIL's own decompression-bomb guard is replaced by our explicit MAX_IMAGE_PIXELS check.
Image.MAX_IMAGE_PIXELS = None

# A JPEG is decoded at 1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling, nearly free) whenever that keeps
# at least this fraction of the wanted longer side, instead of being decoded whole and resized: a
# 1920x1080 photo is decoded at 960x540, a 4032x3024 one at 1008x756, each several times faster
# (timings: README, "Security and limits"). Detection is relative to the photo
# (DETECT_MIN_FACE_FRACTION), and a face a tenth of a 768 px side still spans 77 px, more than
# FaceNet's crop needs.
DRAFT_MIN_FRACTION = 0.75


@dataclass(frozen=True)
class Photo:
    """A decoded photo: RGB pixels (possibly downscaled) and the factor back to the original."""

    rgb: np.ndarray  # uint8 [H, W, 3]
    scale: float  # original pixels per working pixel (>= 1)
    original_size: tuple[int, int]  # (width, height) after EXIF orientation

    @property
    def width(self) -> int:
        """Width of the working image."""
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        """Height of the working image."""
        return int(self.rgb.shape[0])


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any PIL mode (RGBA, LA, P, CMYK, 16-bit, float, 1-bit) to 8-bit RGB."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        arr = np.asarray(img, dtype=np.float32)
        top = 65535.0 if img.mode.startswith("I") and arr.max(initial=0) > 255 else 255.0
        arr = np.clip(arr / top * 255.0, 0, 255).astype(np.uint8)
        return Image.fromarray(arr, mode="L").convert("RGB")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")


def decoded_bytes(img: Image.Image) -> int:
    """Memory the first frame takes once decoded, from the header only: width x height x channels x
    bytes per sample (at least 3 bytes a pixel: every photo becomes 8-bit RGB)."""
    mode = ImageMode.getmode(img.mode)
    per_pixel = len(mode.bands) * np.dtype(mode.typestr).itemsize
    return img.size[0] * img.size[1] * max(per_pixel, 3)


def check_budget(img: Image.Image, max_bytes: int | None) -> None:
    """DecodeTooLarge when decoding the (possibly draft-reduced) first frame would exceed max_bytes."""
    need = decoded_bytes(img)
    if max_bytes is not None and need > max_bytes:
        raise DecodeTooLarge(
            f"This {img.size[0]}x{img.size[1]} {img.format or ''} image would take {need / 2**20:.0f} MB of memory "
            f"to decode; the limit is {max_bytes / 2**20:g} MB. Please upload a smaller photo (a JPEG of a few "
            "megapixels is plenty).")


def draft_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """The size to ask a JPEG draft for: the largest 1/2, 1/4 or 1/8 reduction keeping DRAFT_MIN_FRACTION x max_side."""
    longer, reduce = max(width, height), 1
    while reduce < 8 and longer / (2 * reduce) >= DRAFT_MIN_FRACTION * max_side:
        reduce *= 2
    # PIL reduces by the largest of 8, 4, 2, 1 within min(width // w, height // h), which is `reduce` here.
    return max(1, width // reduce), max(1, height // reduce)


def decode_image(data: bytes, max_pixels: int, max_side: int, max_bytes: int | None = None) -> Photo:
    """Decode image bytes: EXIF orientation applied, RGB, longer side at most max_side.

    The pixel limit and the decoded-memory budget (`max_bytes`) are checked from the header, before
    any pixel is decoded; a JPEG is decoded at 1/2, 1/4 or 1/8 scale when that keeps a longer side of
    at least DRAFT_MIN_FRACTION x max_side (`draft_size`), and an animated or multi-page image only
    for its first frame.
    """
    if not data:
        raise BadRequest("The uploaded file is empty.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = Image.open(io.BytesIO(data))
            width, height = img.size
            if width * height > max_pixels:
                raise ImageTooLarge(
                    f"The image is {width}x{height} pixels; the limit is {max_pixels:,} pixels."
                    " Please upload a smaller photo."
                )
            if img.format == "JPEG":  # decode at a reduced scale when the photo is larger than needed
                img.draft("RGB", draft_size(width, height, max_side))
            check_budget(img, max_bytes)
            img.load()
            draft = width / max(img.size[0], 1)  # 1, 2, 4 or 8 for a JPEG decoded at reduced scale
            ImageOps.exif_transpose(img, in_place=True)  # no copy of an upright photo
            img = to_rgb(img)
    except LooksLikeError:
        raise
    except MemoryError as exc:
        raise ImageTooLarge("The image is too large to decode. Please upload a smaller photo.") from exc
    except Exception as exc:
        # Any decoder failure (UnidentifiedImageError, OSError, SyntaxError, ValueError, and the
        # RuntimeError, struct.error, IndexError... that corrupt AVIF, WebP, GIF, TIFF or PNG data
        # raise) means the bytes are not a photo we can read: 415, never a 500.
        raise UnreadableImage(
            "The file is not an image we can read. Please upload a JPEG, PNG, WebP, GIF or BMP photo."
        ) from exc
    original = (round(img.size[0] * draft), round(img.size[1] * draft))
    longer = max(img.size)
    scale = draft
    if longer > max_side:
        scale = draft * longer / max_side
        new_size = (max(1, round(img.size[0] * max_side / longer)), max(1, round(img.size[1] * max_side / longer)))
        img = img.resize(new_size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    return Photo(rgb=np.asarray(img, dtype=np.uint8), scale=scale, original_size=original)


def encode_jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    """Encode an RGB array as JPEG bytes."""
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()

"""Decoding: EXIF orientation, colour modes and size limits, on a real photo."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from app.pipeline.errors import ImageTooLarge, UnreadableImage
from app.pipeline.photos.imaging import DRAFT_MIN_FRACTION, decode_image, draft_size
from conftest import read, val_photos


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    """Encode a PIL image."""
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


@pytest.fixture(scope="module")
def portrait():
    """A real val photo (Jerry Seinfeld) as RGB."""
    return Image.open(val_photos()[10][1]).convert("RGB")


def test_exif_orientation_is_applied(portrait):
    rotated = portrait.transpose(Image.Transpose.ROTATE_90)  # stored sideways ...
    exif = Image.Exif()
    exif[0x0112] = 6  # ... with the tag that says "turn 90 degrees clockwise to view"
    photo = decode_image(encode(rotated, "PNG", exif=exif), 10**8, 4096)
    assert (photo.width, photo.height) == portrait.size
    upright = np.asarray(portrait, np.int16)
    assert np.abs(photo.rgb.astype(np.int16) - upright).mean() < 1  # rotated back, not further
    assert np.abs(np.asarray(portrait.rotate(180), np.int16) - upright).mean() > 20  # the check can fail


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P", "CMYK", "L", "1", "I;16"])
def test_every_mode_becomes_rgb(portrait, mode, engine):
    img = portrait.convert("L") if mode == "I;16" else portrait
    if mode == "I;16":
        img = Image.fromarray(np.asarray(img, np.uint16) * 257)
        assert img.mode == "I;16"
    else:
        img = img.convert(mode)
    data = encode(img, "TIFF" if mode == "CMYK" else "PNG")
    photo = decode_image(data, 10**8, 1024)
    assert photo.rgb.dtype == np.uint8 and photo.rgb.shape == (portrait.height, portrait.width, 3)
    if mode != "1":  # a 1-bit photo keeps too little of a face
        assert engine.detector.detect(photo), f"face lost after {mode} conversion"


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])  # JPEG is decoded at reduced scale first
def test_downscale_keeps_scale_factor(portrait, fmt, engine):
    big = portrait.resize((portrait.width * 5, portrait.height * 5))
    photo = decode_image(encode(big, fmt), 10**8, 1024)
    assert max(photo.width, photo.height) == 1024
    assert photo.original_size == big.size and photo.scale == pytest.approx(max(big.size) / 1024, rel=1e-3)
    small = decode_image(encode(portrait, fmt), 10**8, 1024)
    box_big = engine.detector.main_face(engine.detector.detect(photo), photo).original_box()
    box_small = engine.detector.main_face(engine.detector.detect(small), small).original_box()
    assert np.allclose(box_big, np.array(box_small) * 5, atol=0.05 * max(big.size))  # upload pixels


@pytest.mark.parametrize("factor, reduce", [(6.4, 2), (13.44, 4), (27, 8)])  # 1920, 4032 and 8100 px wide
def test_large_jpeg_is_decoded_at_draft_scale_without_a_resize(portrait, factor, reduce, engine):
    big = portrait.resize((round(portrait.width * factor), round(portrait.height * factor)))
    assert draft_size(*big.size, 1024) == (big.width // reduce, big.height // reduce)
    photo = decode_image(encode(big, "JPEG", quality=90), 10**8, 1024)
    assert (photo.width, photo.height) == (-(-big.width // reduce), -(-big.height // reduce))  # libjpeg, no resize
    assert DRAFT_MIN_FRACTION * 1024 <= max(photo.width, photo.height) <= 1024
    assert photo.original_size == big.size and photo.scale == pytest.approx(reduce, rel=1e-2)
    small = decode_image(encode(portrait, "JPEG", quality=90), 10**8, 1024)
    box_big = engine.detector.main_face(engine.detector.detect(photo), photo).original_box()
    box_small = engine.detector.main_face(engine.detector.detect(small), small).original_box()
    assert np.allclose(box_big, np.array(box_small) * factor, atol=0.05 * max(big.size))  # upload pixels


def test_draft_never_asks_for_an_empty_side():
    assert draft_size(8000, 3, 1024) == (1000, 1) and draft_size(1535, 1000, 1024) == (1535, 1000)


def test_limits_and_garbage():
    with pytest.raises(ImageTooLarge):
        decode_image(encode(Image.new("RGB", (2000, 2000)), "PNG"), 1_000_000, 1024)
    with pytest.raises(UnreadableImage):
        decode_image(b"GIF89a-but-not-really", 10**8, 1024)
    with pytest.raises(UnreadableImage):
        decode_image(read(val_photos()[0][1])[:300], 10**8, 1024)

"""Bounded cost per photo: the decoded-memory budget (from the header) and MTCNN's bounded candidates."""

from __future__ import annotations

import io
import tracemalloc

import numpy as np
import pytest
from PIL import Image

from app.pipeline.errors import DecodeTooLarge, UnreadableImage
from app.pipeline.networks.mtcnn_candidates import bounded_nms, overlap_suppress, top_per_image
from app.pipeline.photos.imaging import decode_image, decoded_bytes
from hostile_inputs import animated_gif, flat_image, framed_face

MB = 2**20


def encoded(img: Image.Image, fmt: str, **options) -> bytes:
    """An image's bytes in a format."""
    buf = io.BytesIO()
    img.save(buf, fmt, **options)
    return buf.getvalue()


@pytest.mark.parametrize(("mode", "per_pixel"), [("RGB", 3), ("RGBA", 4), ("L", 3), ("P", 3), ("1", 3),
                                                 ("I;16", 3), ("I", 4), ("F", 4), ("CMYK", 4)])
def test_decoded_bytes_from_the_header(mode, per_pixel):
    assert decoded_bytes(Image.new(mode, (10, 20))) == 200 * per_pixel


@pytest.mark.parametrize(("fmt", "header"), [("WEBP", 30), ("PNG", 41)])
def test_tiny_file_that_decodes_huge_is_refused_before_decoding(fmt, header):
    data = flat_image(6300, fmt)
    assert len(data) < 200_000  # a few KB on the wire ...
    with pytest.raises(DecodeTooLarge, match="6300x6300.*114 MB.*limit is 64 MB"):
        decode_image(data, 40_000_000, 1024, 64 * MB)  # ... 114 MB decoded, within the 40 MP limit
    # Refused from the header, not after decoding: the same file with its pixel data zeroed (the
    # header, with the size, kept) cannot be decoded, yet it is refused for its size all the same.
    spoiled = data[:header] + bytes(len(data) - header)
    with pytest.raises(UnreadableImage):
        decode_image(spoiled, 40_000_000, 1024)
    with pytest.raises(DecodeTooLarge, match="6300x6300.*114 MB"):
        decode_image(spoiled, 40_000_000, 1024, 64 * MB)


def test_animated_image_counts_one_frame():
    data = animated_gif(2000, 3)
    photo = decode_image(data, 40_000_000, 1024, 12 * MB)  # one 2000x2000 frame: 11.4 MB as RGB
    assert photo.original_size == (2000, 2000)
    with pytest.raises(DecodeTooLarge):
        decode_image(data, 40_000_000, 1024, 11 * MB)


def test_large_jpeg_is_budgeted_at_its_draft_scale():
    """A 12 MP JPEG (36 MB as RGB) is decoded at quarter scale (2.25 MB): within a 3 MB budget."""
    photo = decode_image(framed_face(4000, 3000, "JPEG"), 40_000_000, 1024, 3 * MB)
    assert photo.original_size == (4000, 3000) and photo.rgb.shape == (750, 1000, 3)
    with pytest.raises(DecodeTooLarge):
        decode_image(framed_face(4000, 3000, "PNG"), 40_000_000, 1024, 16 * MB)


def test_no_budget_no_check():
    assert decode_image(flat_image(3000, "PNG"), 40_000_000, 512).rgb.shape == (512, 512, 3)


def random_boxes(rng, n: int, same_size: bool) -> np.ndarray:
    """[image, x1, y1, x2, y2, score, 4 more] rows as MTCNN's stages pass them."""
    xy = rng.uniform(0, 300, (n, 2))
    wh = np.full((n, 2), 20.0) if same_size else rng.uniform(3, 80, (n, 2))
    return np.c_[rng.integers(0, 3, n), xy, xy + wh, rng.uniform(0, 1, n), rng.uniform(0, 1, (n, 4))]


@pytest.mark.parametrize("trial", range(6))
def test_bounded_nms_keeps_what_mtcnn_keeps(trial):
    from mtcnn.utils.bboxes import smart_nms_from_bboxes

    rng = np.random.default_rng(trial)
    boxes = random_boxes(rng, int(rng.integers(1, 700)), same_size=trial % 2 == 0)
    for threshold, method, initial_sort in ((0.5, "union", False), (0.7, "union", True), (0.7, "min", True)):
        ours = bounded_nms(boxes.copy(), threshold=threshold, method=method, initial_sort=initial_sort)
        theirs = smart_nms_from_bboxes(boxes.copy(), threshold=threshold, method=method, initial_sort=initial_sort)
        assert np.array_equal(ours, theirs)


def test_overlap_suppress_is_linear_in_memory():
    """8,000 proposals (a crowd's finest PNet scale): mtcnn's N x N matrices took 15 s and 4 GB (one of
    float64 is 512 MB); numpy reports its arrays to tracemalloc, so the peak counts every one."""
    rng = np.random.default_rng(0)
    boxes = rng.uniform(0, 1000, (8000, 2))
    boxes = np.c_[boxes, boxes + 20]
    tracemalloc.start()
    try:
        kept = overlap_suppress(boxes, 0.5)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert 0 < len(kept) < 8000 and peak < 16 * MB, peak


def test_top_per_image_keeps_the_largest_or_most_confident_of_each_photo():
    boxes = np.array([[0, 0, 0, 10, 10, 0.9], [0, 0, 0, 30, 30, 0.5], [0, 0, 0, 20, 20, 0.7],
                      [1, 0, 0, 5, 5, 0.1], [1, 0, 0, 50, 50, 0.2]])
    assert top_per_image(boxes, 1, "area")[:, 3].tolist() == [30, 50]
    assert top_per_image(boxes, 2, "score")[:, 5].tolist() == [0.9, 0.7, 0.1, 0.2]
    assert top_per_image(boxes, 9, "area") is boxes

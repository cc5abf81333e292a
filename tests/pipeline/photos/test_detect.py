"""Choice of the main face and the FaceNet crop."""

from __future__ import annotations

import numpy as np
import pytest

from app.pipeline.errors import FaceTooSmall, NoFace
from app.pipeline.photos.crops import crop_box
from app.pipeline.photos.face_box import Face
from app.pipeline.photos.imaging import Photo

PHOTO = Photo(rgb=np.zeros((400, 600, 3), np.uint8), scale=1.0, original_size=(600, 400))


def face(x, y, side):
    """A square face box."""
    return Face(box=(x, y, side, side), confidence=0.99, keypoints={})


@pytest.fixture()
def detector(engine):
    """The app's detector (FACE_CHOICE central)."""
    return engine.detector


def test_central_face_beats_a_bigger_bystander(detector, make_app):
    bystander, subject, tiny = face(10, 10, 120), face(250, 150, 100), face(290, 190, 40)
    faces = [bystander, subject, tiny]  # largest first, as detect() returns them
    assert detector.main_face(faces, PHOTO) is subject
    assert detector.main_face([bystander, tiny], PHOTO) is bystander  # tiny is under half the area
    largest = make_app(FACE_CHOICE="largest", EAGER_LOAD=False).extensions["lookslike"].detector
    assert largest.main_face(faces, PHOTO) is bystander


def test_no_face_and_too_small(detector):
    with pytest.raises(NoFace):
        detector.main_face([], PHOTO)
    with pytest.raises(FaceTooSmall):
        detector.main_face([face(300, 200, 20)], PHOTO)


def test_crop_adds_margin_and_clips():
    rgb = np.zeros((100, 100, 3), np.uint8)
    rgb[40:60, 40:60] = 255  # a white 20x20 square, the "face"
    tight = crop_box(rgb, (40, 40, 20, 20), 0.0, 20)
    assert tight.min() == 255
    wide = crop_box(rgb, (40, 40, 20, 20), 0.5, 40)  # 10 px margin each side: a black frame
    assert wide[0].max() == 0 and wide[20, 20].min() == 255
    edge = crop_box(rgb, (0, 0, 20, 20), 0.5, 30)  # clipped at the image border
    assert edge.shape == (30, 30, 3)

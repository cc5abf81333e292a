"""Shared fixtures: one app (real weights, real demo gallery) for the whole session."""

from __future__ import annotations

import glob
import io
import os

import numpy as np
import pytest
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "instance", "datasets", "5-celebrity-faces")
SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared", "data"))
EDGE = os.path.join(SHARED, "edge-cases")


def val_photos() -> list[tuple[str, str]]:
    """(identity, path) of the 25 held-out demo photos."""
    files = sorted(glob.glob(os.path.join(DEMO, "val", "*", "*")))
    return [(os.path.basename(os.path.dirname(f)), f) for f in files]


def read(path: str) -> bytes:
    """File bytes."""
    with open(path, "rb") as f:
        return f.read()


def png_bytes(rgb: np.ndarray, mode: str | None = None) -> bytes:
    """Encode an array as PNG (optionally converted to a PIL mode)."""
    img = Image.fromarray(rgb)
    if mode:
        img = img.convert(mode)
    buf = io.BytesIO()
    img.save(buf, format="PNG" if mode != "CMYK" else "JPEG")
    return buf.getvalue()


def edge_case(name: str) -> str:
    """Path of a ../shared edge-case photo, skipping the test when shared data is absent."""
    path = os.path.join(EDGE, name)
    if not os.path.isfile(path):
        pytest.skip(f"{path} not present (../shared/data/edge-cases is only in dev checkouts and CI)")
    return path


@pytest.fixture(scope="session")
def app():
    """The real app: FaceNet weights and the demo gallery, loaded once."""
    for need, fix in (("instance/weights/facenet_keras.weights.h5", "make weights"),
                      ("instance/galleries/demo/manifest.json", "make gallery"),
                      ("instance/datasets/5-celebrity-faces/val", "make demo")):
        if not os.path.exists(os.path.join(ROOT, need)):
            pytest.exit(f"{need} is missing: run `{fix}` (or just `make test`)", returncode=2)
    from app import create_app

    return create_app({"TESTING": True, "EAGER_LOAD": True})


@pytest.fixture()
def client(app):
    """HTTP test client."""
    return app.test_client()


@pytest.fixture(scope="session")
def engine(app):
    """The app's matching engine."""
    return app.extensions["lookslike"]

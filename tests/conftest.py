"""Shared fixtures (flaskr style: a fresh `app`, `client`, `runner` per test) and photo helpers."""

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


def free_port(ports: range) -> int:
    """The first free loopback port of `ports` (each test module has its own range); skip if none."""
    import socket

    for port in ports:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                return port
    pytest.skip(f"no free port in {ports.start}-{ports.stop - 1}")


def stop_server(proc) -> None:
    """SIGTERM a server process (gunicorn: graceful stop), killing it after 30 s."""
    import signal
    import subprocess

    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def trickle(port: int, head: bytes, stop, every: float = 2.0, sent=None) -> None:
    """A slow client: the start of a request (then `sent` is set, when given), then one byte every `every`
    seconds until `stop` is set."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(head)
        if sent is not None:
            sent.set()
        while not stop.wait(every):
            try:
                s.sendall(b"x")
            except OSError:
                return


def multipart_files(**fields) -> dict:
    """A test-client multipart dict: bytes as files, lists of bytes as repeated file fields."""
    out = {}
    for key, value in fields.items():
        if isinstance(value, list):
            out[key] = [(io.BytesIO(v), f"{key}{i}.jpg") for i, v in enumerate(value)]
        elif isinstance(value, bytes):
            out[key] = (io.BytesIO(value), f"{key}.jpg")
        else:
            out[key] = value
    return out


def edge_case(name: str) -> str:
    """Path of a ../shared edge-case photo, skipping the test when shared data is absent."""
    path = os.path.join(EDGE, name)
    if not os.path.isfile(path):
        pytest.skip(f"needs ../shared/data/edge-cases: {path} is absent (only in dev checkouts and CI)")
    return path


def require_setup() -> None:
    """Stop the run with the command to run when the weights (TensorFlow and the converted ONNX networks),
    demo photos or demo gallery are missing."""
    from app.pipeline.networks.runtime import NETWORK_NAMES

    onnx = [(f"instance/weights/{name}.onnx", "make weights") for name in NETWORK_NAMES]
    for need, fix in [("instance/weights/facenet_keras.weights.h5", "make weights"), *onnx,
                      ("instance/galleries/demo/manifest.json", "make gallery"),
                      ("instance/datasets/5-celebrity-faces/val", "make demo")]:
        if not os.path.exists(os.path.join(ROOT, need)):
            pytest.exit(f"{need} is missing: run `{fix}` (or just `make test`)", returncode=2)


@pytest.fixture()
def make_app():
    """Factory of apps with config overrides (a test that changes config gets its own app).

    The networks are built once per process and shared; each app opens its own gallery.
    """
    require_setup()
    from app import create_app

    def make(**overrides):
        return create_app({"TESTING": True, "EAGER_LOAD": True, "GALLERY": "demo", **overrides})
    return make


@pytest.fixture()
def app(make_app):
    """A fresh app on the real weights and the demo gallery (flaskr's `app` fixture)."""
    return make_app()


@pytest.fixture()
def client(app):
    """HTTP test client."""
    return app.test_client()


@pytest.fixture()
def runner(app):
    """Flask CLI test runner."""
    return app.test_cli_runner()


@pytest.fixture()
def engine(app):
    """The app's matching engine."""
    from app.extensions import get_engine

    with app.app_context():
        return get_engine()

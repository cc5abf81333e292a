"""Weights are checked against SHA256SUMS when loaded; non-finite results never reach an answer.

Every case uses a real copy of the installed weights in a tmp folder, bit-flipped or damaged.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess

import numpy as np
import pytest

from app.pipeline.errors import StartupError
from app.pipeline.networks.checksums import MANIFEST, read_checksums, record_checksums, verify_checksums
from conftest import ROOT, read, val_photos

WEIGHTS = os.path.join(ROOT, "instance", "weights", "facenet_keras.weights.h5")
FIX = "flask weights fetch --force"


@pytest.fixture()
def weights_copy(tmp_path):
    """A copy of the installed weights with its own SHA256SUMS, in a tmp folder."""
    path = tmp_path / "weights" / os.path.basename(WEIGHTS)
    path.parent.mkdir()
    shutil.copyfile(WEIGHTS, path)
    record_checksums([str(path)])
    return path


def flip_bit(path, offset_fraction: float = 0.5) -> None:
    """Flip one bit in the middle of a file (bit rot)."""
    with open(path, "r+b") as f:
        f.seek(int(os.path.getsize(path) * offset_fraction))
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0x10]))


def test_manifest_is_sha256sum_format(weights_copy):
    sums = read_checksums(str(weights_copy.parent))
    assert list(sums) == [weights_copy.name]
    if shutil.which("sha256sum"):
        out = subprocess.run(["sha256sum", "-c", MANIFEST], cwd=weights_copy.parent, capture_output=True, text=True)
        assert out.returncode == 0 and f"{weights_copy.name}: OK" in out.stdout


def test_recording_keeps_other_files(weights_copy):
    other = weights_copy.parent / "detector.onnx"
    other.write_bytes(b"another network")
    record_checksums([str(other)])
    assert set(read_checksums(str(weights_copy.parent))) == {weights_copy.name, "detector.onnx"}
    verify_checksums([str(weights_copy), str(other)], FIX)


def test_bit_flip_names_the_file_and_the_fix(weights_copy):
    flip_bit(weights_copy)
    with pytest.raises(StartupError, match=f"{weights_copy}.* is corrupt.*{FIX}"):
        verify_checksums([str(weights_copy)], FIX)


@pytest.mark.parametrize("damage", ["no manifest", "not listed", "missing file"])
def test_missing_pieces_name_the_fix(weights_copy, damage):
    if damage == "no manifest":
        os.remove(weights_copy.parent / MANIFEST)
    elif damage == "not listed":
        (weights_copy.parent / MANIFEST).write_text("0" * 64 + "  other.h5\n")
    else:
        os.remove(weights_copy)
    with pytest.raises(StartupError, match=f"{weights_copy}.*{FIX}"):
        verify_checksums([str(weights_copy)], FIX)


def test_app_with_bit_flipped_weights_does_not_start(make_app, weights_copy):
    flip_bit(weights_copy)
    with pytest.raises(StartupError, match=f"is corrupt.*{FIX}"):
        make_app(WEIGHTS_PATH=str(weights_copy))


def test_served_app_reports_the_failure_on_readyz(make_app, weights_copy):
    """As under gunicorn (wsgi.py): the worker stays up, /readyz says why, photo requests get 503."""
    flip_bit(weights_copy, 0.25)
    client = make_app(WEIGHTS_PATH=str(weights_copy), REPORT_STARTUP_ERRORS=True).test_client()
    ready = client.get("/readyz")
    assert ready.status_code == 503
    body = ready.get_json()
    assert body["status"] == "failed" and body["error"] == "startup_failed"
    assert str(weights_copy) in body["message"] and FIX in body["message"]
    assert client.get("/healthz").status_code == 200
    resp = client.post("/api/v1/match", json={"image": "aGVsbG8="})
    assert resp.status_code == 503 and resp.get_json()["error"] == "unavailable"
    page = client.get("/")
    assert page.status_code == 200
    assert client.post("/match", data={}).status_code in (400, 503)


def test_cli_shows_the_message_without_a_traceback(make_app, weights_copy):
    flip_bit(weights_copy)
    app = make_app(WEIGHTS_PATH=str(weights_copy), EAGER_LOAD=False)
    result = app.test_cli_runner().invoke(args=["match", val_photos()[0][1]])
    assert result.exit_code == 1 and "is corrupt" in result.output and FIX in result.output
    assert "Traceback" not in result.output


def test_weights_fetch_records_and_trusts_only_checksummed_files(make_app, weights_copy):
    app = make_app(WEIGHTS_PATH=str(weights_copy), EAGER_LOAD=False)
    result = app.test_cli_runner().invoke(args=["weights", "fetch"])
    assert result.exit_code == 0 and "already installed" in result.output


def test_non_finite_network_output_is_an_error_not_nan(make_app, weights_copy):
    """Weights damaged and re-checksummed (so they load): the answer is an error, never NaN in JSON."""
    import h5py

    with h5py.File(weights_copy, "r+") as f:
        kernel = f["layers/dense/vars/0"]  # the bottleneck layer that makes the 128-d embedding
        kernel[...] = np.full(kernel.shape, np.nan, kernel.dtype)
    record_checksums([str(weights_copy)])
    client = make_app(WEIGHTS_PATH=str(weights_copy)).test_client()
    resp = client.post("/api/v1/verify", json={"image1": base64.b64encode(read(val_photos()[0][1])).decode(),
                                               "image2": base64.b64encode(read(val_photos()[1][1])).decode()})
    assert resp.status_code == 500 and resp.get_json()["error"] == "internal_error"
    assert "NaN" not in resp.get_data(as_text=True)

"""The Ray engine (`flask gallery build --engine ray`) builds the gallery the local engine builds.

Marked `ray`: `make test-ray` installs requirements-ray.txt into .venv and runs it (a local Ray);
without Ray installed the comparison skips, and --engine ray says how to install it.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections import Counter

import numpy as np
import pytest

from app.pipeline.builders.chunked_build import build_gallery
from app.pipeline.galleries.reader import Gallery
from conftest import val_photos


@pytest.fixture()
def small_src(tmp_path):
    """Three demo identities, four real photos each, plus a file that is not a photo."""
    src, counts = tmp_path / "src", Counter()
    for identity, path in val_photos():
        if identity in ("madonna", "jerry_seinfeld", "elton_john") and counts[identity] < 4:
            counts[identity] += 1
            os.makedirs(src / identity, exist_ok=True)
            shutil.copy(path, src / identity)
    (src / "madonna" / "notes.jpg").write_bytes(b"not a photo")
    return src


def manifest_of(gallery: Gallery) -> dict:
    """The manifest without what differs between any two builds (time, version folder)."""
    with open(os.path.join(gallery.path, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    return {k: v for k, v in manifest.items() if k not in ("created", "name")}


@pytest.mark.ray
def test_ray_engine_equals_the_local_engine(small_src, tmp_path, engine, app):
    pytest.importorskip("ray", reason="Ray is not installed: `make test-ray` installs requirements-ray.txt")
    from app.pipeline.builders.ray_actors import ray_runner

    app.config["EMBED_BATCH_SIZE"] = 4  # several chunks and batches
    names = {"madonna": {"name": "Madonna", "gender": "f"}}
    galleries = tmp_path / "g"
    local = build_gallery(str(small_src), str(galleries), "local", engine.detector, engine.embedder, app.config,
                          names=names, progress=False)
    remote = build_gallery(str(small_src), str(galleries), "ray", None, None, app.config, names=names,
                           progress=False, runner=ray_runner(app.config, engine.paths.weights, num_cpus=2))
    a, b = Gallery.load(str(galleries / "local")), Gallery.load(str(galleries / "ray"))
    assert len(a) == len(b) == 12 and a.labels.tolist() == b.labels.tolist()
    assert a.row_metadata()["source"].tolist() == b.row_metadata()["source"].tolist()
    assert np.abs(np.asarray(a.embeddings) - np.asarray(b.embeddings)).max() < 1e-5
    assert np.array_equal(a.row_metadata()["box"], b.row_metadata()["box"])
    assert a.identity_table == b.identity_table and a.names == b.names
    assert manifest_of(a) == manifest_of(b)  # versions, skipped files, pipeline, resemblance reference size
    assert np.allclose(a.resemblance_reference(), b.resemblance_reference(), atol=1e-5)
    for row in range(len(a)):
        with open(a.thumb_path(row), "rb") as fa, open(b.thumb_path(row), "rb") as fb:
            assert fa.read() == fb.read(), row
    counts = [r.summary().split(": ", 1)[1].split(" in ")[0] for r in (local, remote)]  # "12 faces of ..."
    assert counts[0] == counts[1] and local.skipped == remote.skipped


def test_ray_engine_without_ray_says_how_to_install(small_src, runner, monkeypatch, app):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed: `import ray` fails
    app.config["GALLERIES_DIR"] = str(small_src.parent / "g")
    result = runner.invoke(args=["gallery", "build", str(small_src), "--name", "x", "--engine", "ray"])
    assert result.exit_code != 0
    assert "pip install -r requirements-ray.txt" in result.output
    assert not os.path.exists(small_src.parent / "g" / "x")

"""Gallery build over real photos, with bad files, and gallery loading errors."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from app.pipeline.build import build_gallery
from app.pipeline.errors import StartupError
from app.pipeline.gallery import Gallery, display_name
from conftest import DEMO, val_photos


@pytest.fixture()
def tiny_src(tmp_path):
    """Two identities with two real photos each, plus one corrupt and one face-less file."""
    src = tmp_path / "src"
    for identity in ("madonna", "jerry_seinfeld"):
        (src / identity).mkdir(parents=True)
        photos = sorted(os.listdir(os.path.join(DEMO, "val", identity)))[:2]
        for name in photos:
            shutil.copy(os.path.join(DEMO, "val", identity, name), src / identity / name)
    (src / "madonna" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    from PIL import Image
    Image.new("RGB", (300, 300), (120, 160, 200)).save(src / "jerry_seinfeld" / "sky.png")
    return src


def test_build_reports_bad_files_and_still_builds(tiny_src, tmp_path, engine, app):
    out = tmp_path / "galleries" / "tiny"
    report = build_gallery(str(tiny_src), str(out), engine.detector, engine.embedder, app.config,
                           progress=False)
    assert report.rows == 4 and report.identities == 2 and report.photos == 6
    assert dict(report.skipped) == {"unsupported_media": 1, "no_face": 1}
    assert sorted(os.path.basename(p) for p, _ in report.skipped_files) == ["corrupt.jpg", "sky.png"]
    gallery = Gallery.load(str(out))
    assert isinstance(gallery.embeddings, np.memmap) and gallery.embeddings.shape == (4, 128)
    assert np.allclose(np.linalg.norm(gallery.embeddings, axis=1), 1, atol=1e-5)
    assert gallery.identities == ["jerry_seinfeld", "madonna"]
    assert all(os.path.isfile(gallery.thumb_path(i)) for i in range(4))
    assert gallery.manifest["skipped"] == {"unsupported_media": 1, "no_face": 1}
    assert not [p for p in os.listdir(out.parent) if p.startswith(".")]  # no temp folders left
    # the same photo embeds the same whichever way it arrives (gallery vs request path)
    with open(tiny_src / "madonna" / gallery.rows[2]["source"].split("/")[-1], "rb") as f:
        query = engine.analyze(f.read()).embedding
    assert float(gallery.embeddings[2] @ query) > 0.999


def test_rebuild_replaces_atomically(tiny_src, tmp_path, engine, app):
    out = tmp_path / "g"
    build_gallery(str(tiny_src), str(out), engine.detector, engine.embedder, app.config, progress=False)
    shutil.rmtree(tiny_src / "madonna")
    report = build_gallery(str(tiny_src), str(out), engine.detector, engine.embedder, app.config,
                           progress=False)
    assert report.identities == 1 and len(Gallery.load(str(out))) == 2


def test_missing_and_corrupt_gallery_say_what_to_run(tmp_path, tiny_src, engine, app):
    with pytest.raises(StartupError, match="flask gallery build"):
        Gallery.load(str(tmp_path / "nope"))
    out = tmp_path / "g"
    build_gallery(str(tiny_src), str(out), engine.detector, engine.embedder, app.config, progress=False)
    (out / "embeddings.npy").write_bytes(b"garbage")
    with pytest.raises(StartupError, match="embeddings.npy"):
        Gallery.load(str(out))
    np.save(out / "embeddings.npy", np.zeros((3, 128), np.float32))  # rows do not match manifest
    with pytest.raises(StartupError, match="manifest lists 4 rows"):
        Gallery.load(str(out))
    (out / "manifest.json").write_text("{")
    with pytest.raises(StartupError, match="manifest.json"):
        Gallery.load(str(out))


def test_gallery_built_with_other_settings_stops_start_up(tiny_src, tmp_path, engine, app):
    out = tmp_path / "g"
    build_gallery(str(tiny_src), str(out), engine.detector, engine.embedder, app.config, progress=False)
    gallery = Gallery.load(str(out))
    gallery.check_pipeline(app.config)  # same settings: fine
    with pytest.raises(StartupError, match="CROP_MARGIN.*flask gallery build"):
        gallery.check_pipeline({**app.config, "CROP_MARGIN": 0.3})


def test_display_names():
    assert display_name("ben_afflek") == "Ben Afflek"
    assert display_name("Aaron_Guiel") == "Aaron Guiel"
    assert display_name("AJ_Cook") == "AJ Cook"


def test_demo_gallery_holds_train_photos_only(engine):
    g = engine.gallery
    assert len(g.identities) == 5 and len(g) == g.embeddings.shape[0] == len(g.rows)
    assert os.path.basename(g.manifest["source_dir"]) == "train"
    val_files = {os.path.basename(path) for _, path in val_photos()}
    assert not val_files & {os.path.basename(r["source"]) for r in g.rows}  # val photos stay held out

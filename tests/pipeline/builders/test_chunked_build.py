"""Gallery builds over real photos: bad files, versions and atomic swaps, resume, add, upgrade, corruption."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from app.pipeline.builders import chunked_build
from app.pipeline.builders.chunked_build import build_gallery
from app.pipeline.errors import StartupError
from app.pipeline.galleries import store
from app.pipeline.galleries.reader import Gallery, display_name
from conftest import DEMO, ROOT, val_photos


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


def make_gallery(src, galleries, engine, app, name="tiny", **kw):
    """Build gallery `name` from src into the galleries folder, quietly."""
    return build_gallery(str(src), str(galleries), name, engine.detector, engine.embedder, app.config,
                         progress=False, **kw)


def test_build_reports_bad_files_and_still_builds(tiny_src, tmp_path, engine, app):
    galleries = tmp_path / "galleries"
    report = make_gallery(tiny_src, galleries, engine, app, names={"madonna": {"name": "Madonna", "gender": "female"}})
    assert report.rows == 4 and report.identities == 2 and report.photos == 6
    assert dict(report.skipped) == {"unsupported_media": 1, "no_face": 1}
    assert sorted(os.path.basename(p) for p, _ in report.skipped_files) == ["corrupt.jpg", "sky.png"]
    assert "photos/s" in report.summary()
    gallery = Gallery.load(str(galleries / "tiny"))
    assert os.path.islink(galleries / "tiny") and gallery.path == report.path
    assert isinstance(gallery.embeddings, np.memmap) and gallery.embeddings.shape == (4, 128)
    assert np.allclose(np.linalg.norm(gallery.embeddings, axis=1), 1, atol=1e-5)
    assert gallery.identities == ["jerry_seinfeld", "madonna"] and gallery.labels.tolist() == [0, 0, 1, 1]
    assert gallery.identity_table[1] == {"id": "madonna", "name": "Madonna", "gender": "female",
                                         "portrait": gallery.portrait(1)}
    meta = gallery.row_metadata()  # the portrait is the identity's best photo: confident and large
    quality = meta["confidence"] * np.sqrt(np.minimum(meta["box"][:, 2], meta["box"][:, 3]))
    assert gallery.portrait(1) == 2 + int(np.argmax(quality[2:])) and gallery.portrait(0) in (0, 1)
    assert gallery.names == ["Jerry Seinfeld", "Madonna"]
    assert all(os.path.isfile(gallery.thumb_path(i)) for i in range(4))
    assert gallery.manifest["skipped"] == {"unsupported_media": 1, "no_face": 1}
    assert len(gallery.resemblance_reference()) == 4  # each photo against the other identity
    assert not os.listdir(galleries / ".building")  # no work folder left
    meta = gallery.row_metadata()
    assert meta["box"].shape == (4, 4) and meta["confidence"].min() > 0.8
    # the same photo embeds the same whichever way it arrives (gallery vs request path)
    with open(str(meta["source"][2]), "rb") as f:
        query = engine.analyze(f.read()).embedding
    assert float(gallery.embeddings[2] @ query) > 0.999


def test_rebuild_publishes_a_new_version_and_keeps_the_old_one_readable(tiny_src, tmp_path, engine, app):
    galleries = tmp_path / "g"
    first = make_gallery(tiny_src, galleries, engine, app).path
    served = Gallery.load(str(galleries / "tiny"))  # a running server holds this version
    shutil.rmtree(tiny_src / "madonna")
    second = make_gallery(tiny_src, galleries, engine, app)
    assert second.identities == 1 and len(Gallery.load(str(galleries / "tiny"))) == 2
    assert second.path != first and os.path.isfile(served.thumb_path(3))  # old version intact
    for _ in range(3):
        make_gallery(tiny_src, galleries, engine, app)
    assert len(store.versions_of(str(galleries), "tiny")) == store.KEEP_VERSIONS  # old ones pruned


def test_a_crash_between_swap_steps_leaves_the_previous_gallery(tiny_src, tmp_path, engine, app, monkeypatch):
    galleries = tmp_path / "g"
    make_gallery(tiny_src, galleries, engine, app)
    before = os.path.realpath(galleries / "tiny")

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed between the version rename and the link flip")
    monkeypatch.setattr(store.os, "symlink", crash)
    with pytest.raises(KeyboardInterrupt):
        make_gallery(tiny_src, galleries, engine, app)
    assert os.path.realpath(galleries / "tiny") == before and len(Gallery.load(str(galleries / "tiny"))) == 4
    monkeypatch.undo()
    (galleries / ".versions" / "tiny-20000101T000000-1.partial").mkdir()  # a killed build's leftovers
    make_gallery(tiny_src, galleries, engine, app)
    assert not store.versions_of(str(galleries), "tiny", partial=True)  # stale folders cleaned


def test_resume_after_a_kill_equals_a_full_build(tmp_path, engine, app, monkeypatch):
    src = tmp_path / "src"
    for identity, path in val_photos()[:12]:
        os.makedirs(src / identity, exist_ok=True)
        shutil.copy(path, src / identity)
    galleries, calls = tmp_path / "g", []
    app.config["EMBED_BATCH_SIZE"] = 4
    real = chunked_build._save_chunk

    def killed_after_two(work, c, *args):
        if len(calls) == 2:
            raise KeyboardInterrupt("kill -9")
        calls.append(c)
        return real(work, c, *args)
    monkeypatch.setattr(chunked_build, "_save_chunk", killed_after_two)
    with pytest.raises(KeyboardInterrupt):
        build_gallery(str(src), str(galleries), "r", engine.detector, engine.embedder, app.config, progress=False)
    monkeypatch.setattr(chunked_build, "_save_chunk", lambda work, c, *a: calls.append(c) or real(work, c, *a))
    resumed = build_gallery(str(src), str(galleries), "r", engine.detector, engine.embedder, app.config,
                            resume=True, progress=False)
    assert calls == [0, 1, 2] and resumed.resumed_photos == 8  # no photo embedded twice
    full = build_gallery(str(src), str(galleries), "full", engine.detector, engine.embedder, app.config,
                         progress=False)
    a, b = Gallery.load(str(galleries / "r")), Gallery.load(str(galleries / "full"))
    assert len(a) == len(b) == 12 and a.labels.tolist() == b.labels.tolist()
    assert np.abs(np.asarray(a.embeddings) - np.asarray(b.embeddings)).max() < 1e-6
    assert a.row_metadata()["source"].tolist() == b.row_metadata()["source"].tolist() and full.resumed_photos == 0


def test_pool_of_processes_builds_the_same_gallery(tmp_path, engine, app):
    from app.pipeline.builders.process_pool import pool_runner

    src = tmp_path / "src"
    for identity, path in val_photos()[:12]:
        os.makedirs(src / identity, exist_ok=True)
        shutil.copy(path, src / identity)
    galleries = tmp_path / "g"
    app.config["EMBED_BATCH_SIZE"] = 4  # 3 chunks over 2 processes
    pooled = build_gallery(str(src), str(galleries), "pool", None, None, app.config, progress=False,
                           runner=pool_runner(app.config, engine.paths.weights, 2))
    make_gallery(src, galleries, engine, app, name="one")
    a, b = Gallery.load(str(galleries / "pool")), Gallery.load(str(galleries / "one"))
    assert pooled.rows == len(b) == 12 and a.labels.tolist() == b.labels.tolist()
    assert np.abs(np.asarray(a.embeddings) - np.asarray(b.embeddings)).max() < 1e-6
    assert a.row_metadata()["source"].tolist() == b.row_metadata()["source"].tolist()


def test_pool_build_with_missing_weights_stops_with_the_fix(tmp_path):
    # In a subprocess with a time limit: the bug this guards against (a pool restarting processes
    # that cannot load the networks) hangs the build, and a hang here must fail, not stall the suite.
    src = tmp_path / "src"
    for identity, path in val_photos()[:2]:
        os.makedirs(src / identity, exist_ok=True)
        shutil.copy(path, src / identity)
    env = {**os.environ, "LOOKSLIKE_RUNTIME": "onnx", "LOOKSLIKE_GALLERIES_DIR": str(tmp_path / "g"),
           "LOOKSLIKE_WEIGHTS_PATH": str(tmp_path / "no-weights" / "facenet_keras.weights.h5")}
    out = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "gallery", "build", str(src), "--name", "x",
                          "--workers", "2"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 1 and "flask weights fetch" in out.stderr, out.stderr[-2000:]
    assert not os.path.exists(tmp_path / "g" / "x")


def test_add_embeds_only_the_new_photos(tiny_src, tmp_path, engine, app):
    galleries = tmp_path / "g"
    make_gallery(tiny_src, galleries, engine, app)
    extra = tmp_path / "extra" / "ben_afflek"
    extra.mkdir(parents=True)
    ben = [p for i, p in val_photos() if i == "ben_afflek"][:2]
    for path in ben:
        shutil.copy(path, extra)
    base = Gallery.load(str(galleries / "tiny"))
    report = build_gallery(str(tmp_path / "extra"), str(galleries), "tiny", engine.detector, engine.embedder,
                           app.config, base=base, progress=False)
    grown = Gallery.load(str(galleries / "tiny"))
    assert report.photos == 2 and report.added_to == 4 and len(grown) == 6
    assert grown.identities == ["jerry_seinfeld", "madonna", "ben_afflek"] and grown.labels.tolist()[-2:] == [2, 2]
    assert np.array_equal(np.asarray(grown.embeddings[:4]), np.asarray(base.embeddings))


def test_missing_and_corrupt_gallery_files_say_what_to_run(tmp_path, tiny_src, engine, app):
    with pytest.raises(StartupError, match="flask gallery build"):
        Gallery.load(str(tmp_path / "nope"))
    galleries = tmp_path / "g"
    out = make_gallery(tiny_src, galleries, engine, app).path
    served = str(galleries / "tiny")
    pristine = {f: open(os.path.join(out, f), "rb").read() for f in ("embeddings.npy", "labels.npy")}

    def damaged(fname: str, data: bytes, message: str):
        with open(os.path.join(out, fname), "wb") as f:
            f.write(data)
        with pytest.raises(StartupError, match=message):
            Gallery.load(served)
        with open(os.path.join(out, fname), "wb") as f:
            f.write(pristine.get(fname, data))

    matrix = np.load(os.path.join(out, "embeddings.npy"))

    def npy(array) -> bytes:
        path = str(tmp_path / "x.npy")
        np.save(path, array)
        return open(path, "rb").read()

    damaged("embeddings.npy", b"garbage", "embeddings.npy.*missing or corrupt.*flask gallery build")
    damaged("embeddings.npy", npy(matrix[:3]), "labels.npy.*do not match the 3 rows of the matrix")
    damaged("embeddings.npy", npy(np.zeros((4, 64), np.float32)), r"expected \[N, 128\]")
    nan = matrix.copy()
    nan[1, 5] = np.nan
    damaged("embeddings.npy", npy(nan), "row 1 is not a finite unit vector")
    flipped = matrix.copy()
    flipped[2] *= 3.0
    damaged("embeddings.npy", npy(flipped), "row 2 is not a finite unit vector")
    damaged("labels.npy", npy(np.array([0, 0, 1, 7], np.int32)), "labels.npy.*do not match")
    os.remove(os.path.join(out, "thumbs", "3.jpg"))
    with pytest.raises(StartupError, match="thumbnails.*missing"):
        Gallery.load(served)
    with open(os.path.join(out, "manifest.json"), "w") as f:
        f.write("{")
    with pytest.raises(StartupError, match="manifest.json"):
        Gallery.load(served)


def test_format_1_is_refused_with_the_upgrade_command_and_upgrades(tmp_path, engine, make_app):
    old = tmp_path / "g" / "legacy"
    (old / "thumbs").mkdir(parents=True)
    rows = []
    for i, (identity, path) in enumerate(val_photos()[:6]):
        shutil.copy(path, old / "thumbs" / f"{i}.jpg")
        rows.append({"identity": identity, "source": f"{identity}/{os.path.basename(path)}", "box": [1, 2, 3, 4],
                     "confidence": 0.99})
    emb = np.stack([engine.analyze(open(p, "rb").read()).embedding for _, p in val_photos()[:6]])
    np.save(old / "embeddings.npy", emb)
    (old / "manifest.json").write_text(json.dumps({"format": 1, "source_dir": "/x", "rows": rows,
                                                   "pipeline": {}}, indent=1))
    with pytest.raises(StartupError, match="flask gallery upgrade legacy"):
        Gallery.load(str(old))
    runner = make_app(GALLERIES_DIR=str(tmp_path / "g"), EAGER_LOAD=False).test_cli_runner()
    result = runner.invoke(args=["gallery", "upgrade", "legacy"])
    assert result.exit_code == 0 and "upgraded to format 3 (6 faces" in result.output
    gallery = Gallery.load(str(old))
    assert len(gallery) == 6 and gallery.manifest["upgraded_from"] == 1
    assert np.array_equal(np.asarray(gallery.embeddings), emb)
    assert gallery.row_metadata()["source"][0].startswith("/x/")
    assert "already in format 3" in runner.invoke(args=["gallery", "upgrade", "legacy"]).output


def test_gallery_built_with_other_settings_stops_start_up(tiny_src, tmp_path, engine, app):
    galleries = tmp_path / "g"
    make_gallery(tiny_src, galleries, engine, app)
    gallery = Gallery.load(str(galleries / "tiny"))
    gallery.check_pipeline(app.config)  # same settings: fine
    with pytest.raises(StartupError, match="CROP_MARGIN.*flask gallery build"):
        gallery.check_pipeline({**app.config, "CROP_MARGIN": 0.3})


def test_display_names():
    assert display_name("ben_afflek") == "Ben Afflek"
    assert display_name("Aaron_Guiel") == "Aaron Guiel"
    assert display_name("AJ_Cook") == "AJ Cook"


def test_demo_gallery_holds_train_photos_only(engine):
    g = engine.gallery
    assert len(g.identities) == 5 and len(g) == g.embeddings.shape[0]
    assert [os.path.basename(d) for d in g.manifest["source_dirs"]] == ["train"]
    val_files = {os.path.basename(path) for _, path in val_photos()}
    assert not val_files & {os.path.basename(str(s)) for s in g.row_metadata()["source"]}  # val held out


def test_per_identity_keeps_the_best_photos(tiny_src, tmp_path, engine, app):
    report = make_gallery(tiny_src, tmp_path / "g", engine, app, per_identity=1)
    gallery = Gallery.load(str(tmp_path / "g" / "tiny"))
    assert len(gallery) == 2 and gallery.labels.tolist() == [0, 1] and "best photos kept" in report.summary()
    quality = gallery.manifest["quality"]
    assert quality["per_identity"] == 1 and set(quality["identities"]) == {"jerry_seinfeld", "madonna"}
    assert all(q["kept"] == 1 and q["photos"] == 2 for q in quality["identities"].values())

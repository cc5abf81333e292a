"""Galleries as artifacts on real galleries: export -> import gives the same gallery; a truncated, tampered,
wrong-model or path-traversing artifact is refused with nothing changed; the local takedown list is honoured."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile

import numpy as np
import pytest
from artifact_support import (
    WEIGHTS,
    demo,
    export,
    publish_people,
    read_bytes,
    rewrite_tar,
    same_rows,
    snapshot,
    this_server,
    thumbs_equal,
)

from app.config import DEFAULTS
from app.pipeline.builders.artifact_export import served_model
from app.pipeline.builders.artifact_import import artifacts_lock, import_artifact
from app.pipeline.galleries import store
from app.pipeline.galleries.artifact import ArtifactError, file_sha256
from app.pipeline.galleries.reader import Gallery
from app.pipeline.galleries.takedowns import TAKEDOWNS_FILE


def do_import(path: str, root, **options):
    """Import into root/galleries (calibration and models beside it) as a server would."""
    galleries = str(root / "galleries")
    with artifacts_lock(galleries):
        return import_artifact(path, galleries, options.pop("model", None) or this_server(),
                               options.pop("config", DEFAULTS), str(root / "calibration"), str(root / "models"),
                               **options)


@pytest.fixture()
def source(tmp_path):
    """An exporting instance: gallery "demo" (a copy of the demo gallery's version), a calibration, a trained
    model's files and a takedown list; its artifact.tar."""
    root = tmp_path / "source"
    galleries = root / "galleries"
    gallery = publish_people(str(galleries), "demo", demo().identities)
    (root / "calibration").mkdir(parents=True)
    (root / "calibration" / "facenet.json").write_text(json.dumps({"a": 30.0, "b": -28.0, "threshold": 1.07}))
    (root / "models" / "demo").mkdir(parents=True)
    (root / "models" / "demo" / "config.json").write_text(json.dumps({"validation": {"serve": False}}))
    (root / "models" / "demo" / "encoder.weights.bin").write_bytes(os.urandom(4096))
    (galleries / TAKEDOWNS_FILE).write_text(json.dumps([{"id": "someone_else", "name": "Someone Else"}]))
    meta = export(str(galleries), "demo", str(tmp_path / "artifact.tar"), extras=str(root))
    return {"root": root, "gallery": gallery, "artifact": str(tmp_path / "artifact.tar"), "meta": meta}


def test_export_then_import_gives_the_same_gallery_and_its_extras(source, tmp_path):
    meta, gallery = source["meta"], source["gallery"]
    paths = [entry["path"] for entry in meta["files"]]
    assert meta["gallery"] == "demo" and meta["version"] == gallery.version and meta["rows"] == len(gallery)
    assert "gallery/embeddings.npy" in paths and "gallery/thumbs/0.jpg" in paths and "takedowns.json" in paths
    assert "calibration/facenet.json" in paths and "model/encoder.weights.bin" in paths
    assert meta["embedding_model"]["networks"]["facenet.onnx"] == this_server()["sha256"]
    with tarfile.open(source["artifact"]) as tar:
        assert tar.getnames()[0] == "artifact.json"

    target = tmp_path / "target"
    result = do_import(source["artifact"], target)
    imported = Gallery.load(str(target / "galleries" / "demo"))
    assert (result.name, result.version, result.rows, result.already) == ("demo", gallery.version, len(gallery), False)
    assert imported.version == gallery.version  # the same stamp on every server: image URLs agree
    assert same_rows(imported, gallery) and imported.names == gallery.names and thumbs_equal(imported, gallery)
    assert np.array_equal(imported.resemblance_reference(), gallery.resemblance_reference())
    assert {k: v for k, v in imported.manifest.items() if k != "artifact"} == gallery.manifest
    assert imported.manifest["artifact"]["sha256"] == file_sha256(source["artifact"]) == result.artifact_sha256
    assert read_bytes(str(target / "calibration" / "facenet.json")) == \
        read_bytes(str(source["root"] / "calibration" / "facenet.json"))
    assert read_bytes(str(target / "models" / "demo" / "encoder.weights.bin")) == \
        read_bytes(str(source["root"] / "models" / "demo" / "encoder.weights.bin"))
    listed = json.loads((target / "galleries" / TAKEDOWNS_FILE).read_text())
    assert [e["id"] for e in listed] == ["someone_else"]  # the exporter's takedowns are remembered here too

    again = do_import(source["artifact"], target, name="copy", sha256=file_sha256(source["artifact"]))
    assert again.name == "copy" and same_rows(Gallery.load(str(target / "galleries" / "copy")), gallery)
    assert do_import(source["artifact"], target).already  # the same version again: verified, nothing new


def test_gzip_artifact_round_trip(source, tmp_path):
    galleries = str(source["root"] / "galleries")
    export(galleries, "demo", str(tmp_path / "artifact.tar.gz"))
    with open(tmp_path / "artifact.tar.gz", "rb") as f:
        assert f.read(2) == b"\x1f\x8b"
    do_import(str(tmp_path / "artifact.tar.gz"), tmp_path / "target")
    assert thumbs_equal(Gallery.load(str(tmp_path / "target" / "galleries" / "demo")), source["gallery"])


@pytest.fixture()
def served(source, tmp_path):
    """A target instance already serving an older version of "demo" (three people); its root."""
    target = tmp_path / "target"
    publish_people(str(target / "galleries"), "demo", ["madonna", "elton_john", "jerry_seinfeld"])
    other = tmp_path / "other.tar"
    export(str(target / "galleries"), "demo", str(other))
    do_import(str(other), target)  # the lock file and the source record exist, as on a running server
    return target


def refused(path: str, target, match: str, **options) -> None:
    """Import refused with a message containing `match`, and nothing under target changed."""
    before = snapshot(str(target))
    with pytest.raises(ArtifactError, match=match):
        do_import(path, target, **options)
    assert snapshot(str(target)) == before


@pytest.mark.parametrize("keep", [0.5, 0.98])
def test_truncated_artifact_is_refused(source, served, tmp_path, keep):
    data = read_bytes(source["artifact"])
    cut = tmp_path / "cut.tar"
    cut.write_bytes(data[:int(len(data) * keep)])
    refused(str(cut), served, "truncated|incomplete")


def test_truncated_gzip_artifact_is_refused(source, served, tmp_path):
    export(str(source["root"] / "galleries"), "demo", str(tmp_path / "a.tgz"))
    data = read_bytes(str(tmp_path / "a.tgz"))
    (tmp_path / "cut.tgz").write_bytes(data[:len(data) - 100])
    refused(str(tmp_path / "cut.tgz"), served, "truncated")


def test_tampered_member_is_refused(source, served, tmp_path):
    def flip(info, data):
        if info.name == "gallery/thumbs/3.jpg":
            data = data[:200] + bytes([data[200] ^ 0xFF]) + data[201:]
        return info, data
    rewrite_tar(source["artifact"], str(tmp_path / "bad.tar"), flip)
    refused(str(tmp_path / "bad.tar"), served, r"gallery/thumbs/3.jpg is damaged")


def test_unlisted_or_missing_members_are_refused(source, served, tmp_path):
    def extra(info, data):
        return (info, data) if info.name != "gallery/labels.npy" else (tarfile.TarInfo("gallery/evil.npy"), data)
    rewrite_tar(source["artifact"], str(tmp_path / "bad.tar"), extra)
    refused(str(tmp_path / "bad.tar"), served, "not listed in artifact.json")
    rewrite_tar(source["artifact"], str(tmp_path / "short.tar"),
                lambda info, data: None if info.name == "gallery/rows.npz" else (info, data))
    refused(str(tmp_path / "short.tar"), served, "missing")


def test_pinned_sha256_mismatch_is_refused(source, served):
    refused(source["artifact"], served, "expected 0000", sha256="0" * 64)


@pytest.mark.parametrize("member,message", [
    ("../escape.txt", "'..' in archive member"),
    ("/etc/escape.txt", "absolute path"),
    ("gallery/link", "link in archive"),
])
def test_members_outside_the_gallery_are_refused(source, served, tmp_path, member, message):
    def inject(info, data):
        if info.name != "gallery/identities.json":
            return info, data
        bad = tarfile.TarInfo(member)
        if member.endswith("link"):
            bad.type, bad.linkname = tarfile.SYMTYPE, "/etc/passwd"
        return bad, data
    rewrite_tar(source["artifact"], str(tmp_path / "bad.tar"), inject)
    refused(str(tmp_path / "bad.tar"), served, message)
    assert not os.path.exists(tmp_path / "escape.txt")


def test_listed_path_outside_the_artifact_is_refused(source, served, tmp_path):
    def relist(info, data):
        if info.name == "artifact.json":
            meta = json.loads(data)
            meta["files"][0]["path"] = "gallery/../../escape"
            data = json.dumps(meta).encode()
        return info, data
    rewrite_tar(source["artifact"], str(tmp_path / "bad.tar"), relist)
    refused(str(tmp_path / "bad.tar"), served, "outside the artifact's folders")


def test_embeddings_of_another_network_are_refused_naming_both(source, served, tmp_path):
    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "facenet.onnx").write_bytes(b"another network")
    other = served_model(str(weights / "facenet_keras.weights.h5"), "onnx", DEFAULTS)
    ours = this_server()["sha256"]
    refused(source["artifact"], served, f"made by facenet.onnx sha256 {ours}.*this server runs facenet.onnx "
                                        f"sha256 {other['sha256']}", model=other)
    changed = dict(DEFAULTS, CROP_MARGIN=0.2)
    refused(source["artifact"], served, r"CROP_MARGIN: artifact 0.15, this server 0.2",
            model=served_model(WEIGHTS, "onnx", changed), config=changed)


def test_another_conversion_of_the_same_weights_is_accepted(source, tmp_path):
    """A new image converts FaceNet again (other ONNX bytes) from the same Keras weights, whose sha256 its
    SHA256SUMS keeps although the image holds no Keras file: the gallery of the last image still serves."""
    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "facenet.onnx").write_bytes(b"another conversion")
    ours = served_model(WEIGHTS, "onnx", DEFAULTS)["weights_sha256"]
    (weights / "SHA256SUMS").write_text(f"{ours}  facenet_keras.weights.h5\n")
    other = served_model(str(weights / "facenet_keras.weights.h5"), "onnx", DEFAULTS)
    assert other["sha256"] != this_server()["sha256"] and other["weights_sha256"] == ours
    result = do_import(source["artifact"], tmp_path / "target", model=other)
    assert (result.version, result.rows) == (source["gallery"].version, len(source["gallery"]))


def test_a_gallery_that_fails_its_checks_is_refused(source, served, tmp_path):
    def damage(info, data):
        if info.name == "artifact.json":  # a consistent artifact of a broken gallery: labels out of range
            meta = json.loads(data)
            entry = next(e for e in meta["files"] if e["path"] == "gallery/labels.npy")
            entry["sha256"], entry["size"] = bad_sha, len(bad)
            data = json.dumps(meta).encode()
        elif info.name == "gallery/labels.npy":
            data = bad
        return info, data
    buf = io.BytesIO()
    np.save(buf, np.full(len(source["gallery"]), 99, np.int32))
    bad = buf.getvalue()
    bad_sha = hashlib.sha256(bad).hexdigest()
    rewrite_tar(source["artifact"], str(tmp_path / "bad.tar"), damage)
    refused(str(tmp_path / "bad.tar"), served, "fails its checks")


def test_import_honours_the_local_takedown_list(source, tmp_path):
    target = tmp_path / "target"
    (target / "galleries").mkdir(parents=True)
    (target / "galleries" / TAKEDOWNS_FILE).write_text(json.dumps([{"id": "x", "name": "Madonna"}]))
    result = do_import(source["artifact"], target)
    gallery = Gallery.load(str(target / "galleries" / "demo"))
    full = source["gallery"]
    assert result.removed == [{"id": "madonna", "name": "Madonna"}]
    assert "madonna" not in gallery.identities and len(gallery) == len(full) - int((full.row_names == "madonna").sum())
    assert gallery.version.startswith(full.version + "-td") and result.version == gallery.version
    assert store.version_folder(str(target / "galleries"), "demo", full.version) is None  # never published whole
    assert all(os.path.isfile(gallery.thumb_path(r)) for r in range(len(gallery)))
    assert do_import(source["artifact"], target).version == gallery.version  # the same list: the same version
    everyone = [{"id": identity} for identity in full.identities]
    (target / "galleries" / TAKEDOWNS_FILE).write_text(json.dumps(everyone))
    refused(source["artifact"], target, "every identity of the artifact is on the takedown list")


def test_a_gallery_with_a_vector_index_travels_with_it(source, tmp_path):
    from app.pipeline.builders.upgrade import index_gallery
    from app.pipeline.galleries.vector_index import INDEX_DIR, PQIndex

    galleries = str(source["root"] / "galleries")
    indexed = index_gallery(galleries, "demo")
    export(galleries, "demo", str(tmp_path / "indexed.tar"))
    result = do_import(str(tmp_path / "indexed.tar"), tmp_path / "target")
    imported = Gallery.load(result.path)
    for fname in os.listdir(os.path.join(indexed.path, INDEX_DIR)):
        assert read_bytes(os.path.join(imported.path, INDEX_DIR, fname)) == \
            read_bytes(os.path.join(indexed.path, INDEX_DIR, fname))
    assert PQIndex(imported.path, imported.embeddings, "demo").meta["rows"] == len(imported)

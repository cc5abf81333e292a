"""`flask gallery download lfw` end to end against a local server, on real face photos."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile

from conftest import val_photos


def lfw_like_tgz() -> bytes:
    """A small lfw.tgz of real demo photos: lfw/<Person>/<Person>_000N.jpg for three people."""
    buf = io.BytesIO()
    people = {"ben_afflek": "Ben_Affleck", "madonna": "Madonna", "mindy_kaling": "Mindy_Kaling"}
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for folder, person in people.items():
            for n, path in enumerate([p for i, p in val_photos() if i == folder][:2], 1):
                tar.add(path, arcname=f"lfw/{person}/{person}_{n:04d}.jpg")
    return buf.getvalue()


def test_download_verifies_extracts_and_builds_a_named_gallery(server, make_app, tmp_path):
    data = lfw_like_tgz()
    server.files["/lfw.tgz"] = data
    app = make_app(EAGER_LOAD=False, GALLERIES_DIR=str(tmp_path / "g"), DATASETS_DIR=str(tmp_path / "d"))
    runner = app.test_cli_runner()
    wrong = runner.invoke(args=["gallery", "download", "lfw", "--url", server.url("/lfw.tgz"),
                                "--sha256", "0" * 64])
    assert wrong.exit_code == 1 and "sha256" in wrong.output
    assert not os.path.exists(tmp_path / "d" / "lfw" / "lfw")  # nothing extracted from a bad archive
    result = runner.invoke(args=["gallery", "download", "lfw", "--url", server.url("/lfw.tgz"),
                                 "--sha256", hashlib.sha256(data).hexdigest()])
    assert result.exit_code == 0, result.output
    assert "gallery lfw: 6 faces of 3 identities from 6 photos" in result.output
    ready = make_app(GALLERIES_DIR=str(tmp_path / "g"), GALLERY="").test_client().get("/readyz").get_json()
    assert ready["gallery"] == "lfw" and ready["gallery_identities"] == 3  # the best gallery present is served
    names = runner.invoke(args=["gallery", "info", "lfw"]).output
    assert "Ben Affleck" in names and "Mindy Kaling" in names


def test_offline_download_fails_at_once_naming_the_url_and_from(refused_url, make_app, tmp_path):
    app = make_app(EAGER_LOAD=False, GALLERIES_DIR=str(tmp_path / "g"), DATASETS_DIR=str(tmp_path / "d"))
    result = app.test_cli_runner().invoke(args=["gallery", "download", "lfw", "--url", refused_url,
                                                "--sha256", "0" * 64])
    assert result.exit_code == 1 and refused_url in result.output and "--from" in result.output

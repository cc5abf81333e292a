"""Takedowns on real photos: `flask gallery remove` publishes a version without the person, and builds leave
them out; a removed identity can no longer be matched, shown as a thumbnail or on a celebrity page."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from app.pipeline.galleries.reader import Gallery
from app.pipeline.galleries.takedowns import TAKEDOWNS_FILE, Takedowns, load_takedowns, read_list
from conftest import DEMO, multipart_files, read

PEOPLE = ("madonna", "jerry_seinfeld", "elton_john")


@pytest.fixture()
def three_people(tmp_path):
    """Three identities with three real photos each (demo train photos)."""
    src = tmp_path / "src"
    for identity in PEOPLE:
        (src / identity).mkdir(parents=True)
        for name in sorted(os.listdir(os.path.join(DEMO, "train", identity)))[:3]:
            shutil.copy(os.path.join(DEMO, "train", identity, name), src / identity / name)
    return src


def probe(identity: str) -> bytes:
    """A held-out photo of the identity (not in the gallery)."""
    folder = os.path.join(DEMO, "val", identity)
    return read(os.path.join(folder, sorted(os.listdir(folder))[0]))


def test_removed_identity_cannot_be_matched_shown_or_rebuilt(three_people, tmp_path, make_app):
    galleries = tmp_path / "galleries"
    builder = make_app(GALLERIES_DIR=str(galleries), EAGER_LOAD=False).test_cli_runner()
    built = builder.invoke(args=["gallery", "build", str(three_people), "--name", "t", "--workers", "1"])
    assert built.exit_code == 0, built.output
    before = make_app(GALLERIES_DIR=str(galleries), GALLERY="t")  # a server still on the old version
    old = Gallery.load(str(galleries / "t"))
    madonna_rows = np.flatnonzero(old.labels == old.identities.index("madonna")).tolist()
    old_client = before.test_client()
    assert old_client.get(f"/gallery/t/{old.version}/{madonna_rows[0]}.jpg").status_code == 200

    removed = builder.invoke(args=["gallery", "remove", "t", "Madonna", "--reason", "asked to be removed"])
    assert removed.exit_code == 0, removed.output
    assert "removed: Madonna (madonna)" in removed.output and "1 identities removed" in removed.output

    gallery = Gallery.load(str(galleries / "t"))
    assert "madonna" not in gallery.identities and len(gallery) == len(old) - len(madonna_rows)
    assert gallery.manifest["takedowns"]["left_out"] == ["madonna"]
    assert all(os.path.isfile(gallery.thumb_path(r)) for r in range(len(gallery)))
    assert (gallery.labels[[gallery.portrait(k) for k in range(len(gallery.identities))]]
            == np.arange(len(gallery.identities))).all()
    # The older version that held her faces is gone, so the server not yet reloaded serves no photo of her.
    assert not os.path.isdir(old.path)
    assert old_client.get(f"/gallery/t/{old.version}/{madonna_rows[0]}.jpg").status_code == 404

    client = make_app(GALLERIES_DIR=str(galleries), GALLERY="t").test_client()  # after a reload
    answer = client.post("/api/v1/match", data=multipart_files(photo=probe("madonna"), top_k="5")).get_json()
    assert answer["matches"] and "madonna" not in [m["identity"] for m in answer["matches"]]
    assert client.get("/celebrity/madonna").status_code == 404
    assert client.get("/celebrity/elton_john").status_code == 200

    entries = json.loads((galleries / TAKEDOWNS_FILE).read_text())
    assert [(e["id"], e["name"], e["gallery"], e["reason"]) for e in entries] == \
        [("madonna", "Madonna", "t", "asked to be removed")]

    rebuilt = builder.invoke(args=["gallery", "build", str(three_people), "--name", "t", "--workers", "1"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "3 takedown" in rebuilt.output  # her three photos are left out, never read
    assert "madonna" not in Gallery.load(str(galleries / "t")).identities


def test_remove_refuses_unknown_names_and_an_empty_gallery(three_people, tmp_path, make_app):
    galleries = tmp_path / "galleries"
    runner = make_app(GALLERIES_DIR=str(galleries), EAGER_LOAD=False).test_cli_runner()
    assert runner.invoke(args=["gallery", "build", str(three_people), "--name", "t", "--workers", "1"]).exit_code == 0
    version = Gallery.load(str(galleries / "t")).path
    result = runner.invoke(args=["gallery", "remove", "t", "Madonna", "Nobody Known"])
    assert result.exit_code == 1 and "not in gallery 't': Nobody Known" in result.output
    result = runner.invoke(args=["gallery", "remove", "t", *PEOPLE])
    assert result.exit_code == 1 and "would leave gallery 't' empty" in result.output
    assert Gallery.load(str(galleries / "t")).path == version  # nothing published
    assert not (galleries / TAKEDOWNS_FILE).exists()


def test_exclude_lists_are_honoured_by_id_or_name(three_people, tmp_path, make_app):
    own = tmp_path / "exclude.txt"
    own.write_text("# people we never show\nElton John\n")
    galleries = tmp_path / "galleries"
    runner = make_app(GALLERIES_DIR=str(galleries), EAGER_LOAD=False).test_cli_runner()
    result = runner.invoke(args=["gallery", "build", str(three_people), "--name", "t", "--workers", "1",
                                 "--exclude", str(own)])
    assert result.exit_code == 0, result.output
    assert Gallery.load(str(galleries / "t")).identities == ["jerry_seinfeld", "madonna"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"not": "a list"}))
    result = runner.invoke(args=["gallery", "build", str(three_people), "--name", "u", "--exclude", str(bad)])
    assert result.exit_code == 1 and "is not a takedown list" in result.output


def test_takedown_matching_ignores_case_spaces_and_underscores(tmp_path):
    listed = Takedowns([{"id": "imdb-123", "name": "Jane  Doe"}])
    assert listed.covers("JANE_DOE") and listed.covers("x", "jane doe") and listed.covers("imdb-123")
    assert not listed.covers("jane", "Jane Doe-Smith")
    (tmp_path / "list.json").write_text(json.dumps([{"id": "a"}]))
    assert len(load_takedowns(str(tmp_path / "none"), [str(tmp_path / "list.json")])) == 1
    assert read_list(str(tmp_path / "list.json")).covers("A")

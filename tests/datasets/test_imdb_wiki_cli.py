"""`flask gallery download imdb-wiki` end to end: archives in the real layout from a 127.0.0.1 server,
real detection and embedding, a gallery with names, birth years, portraits, its source record and takedowns."""

from __future__ import annotations

import json
import os

import numpy as np

from app.pipeline.galleries.reader import Gallery
from app.pipeline.galleries.takedowns import TAKEDOWNS_FILE
from conftest import multipart_files, read

from .imdb_wiki_fixture import write_crop_tar


def download(make_app, tmp_path, *args):
    """Run the command in an app whose datasets and galleries live under tmp_path."""
    app = make_app(GALLERIES_DIR=str(tmp_path / "galleries"), DATASETS_DIR=str(tmp_path / "datasets"),
                   EAGER_LOAD=False)
    return app.test_cli_runner().invoke(args=["gallery", "download", "imdb-wiki", *args])


def test_download_builds_named_celebrities_with_portraits_and_honours_takedowns(server, tmp_path, make_app):
    imdb, wiki = write_crop_tar(str(tmp_path), "imdb"), write_crop_tar(str(tmp_path), "wiki")
    server.files.update({"/imdb_crop.tar": imdb.data, "/wiki_crop.tar": wiki.data})
    (tmp_path / "galleries").mkdir()
    (tmp_path / "galleries" / TAKEDOWNS_FILE).write_text(json.dumps([{"id": "x", "name": "Chris Evans"}]))
    result = download(make_app, tmp_path, "--subset", "both", "--url", server.url("/imdb_crop.tar"),
                      "--url", server.url("/wiki_crop.tar"), "--identities", "20", "--workers", "1")
    assert result.exit_code == 0, result.output
    assert "academic research" in result.output  # the terms, printed before downloading
    assert "dropped: second_face 2" in result.output and "dropped: greyscale 1" in result.output
    assert "takedown" in result.output  # both Chris Evanses are on the list: left out, never read

    gallery = Gallery.load(str(tmp_path / "galleries" / "celebs"))
    by_name = {gallery.names[k]: k for k in range(len(gallery.identities))}
    assert {"Ben Affleck", "Madonna", "Jerry Seinfeld"} <= set(by_name)
    assert "Chris Evans" not in by_name
    ben = by_name["Ben Affleck"]  # one identity from both sources: same name and date of birth
    assert gallery.attributes(ben) == {"gender": "male", "birth_year": 1972}
    assert gallery.attributes(by_name["Madonna"])["birth_year"] == 1958
    assert (gallery.labels[[gallery.portrait(k) for k in range(len(gallery.identities))]]
            == np.arange(len(gallery.identities))).all()
    source = gallery.manifest["source"]
    assert source["dataset"] == "IMDB-WIKI" and "academic research" in source["terms"]
    assert [(a["file"], a["sha256"]) for a in source["archives"]] == \
        [("imdb_crop.tar", imdb.sha256), ("wiki_crop.tar", wiki.sha256)]
    assert source["selection"]["dropped"]["no_face"] == 2
    assert gallery.manifest["quality"]["per_identity"] == 20
    # Cleaning is on for this source: the photo of Elton John filed under Madonna is dropped, hers kept.
    dropped = gallery.manifest["cleaning"]["dropped_files"]
    assert [(os.path.basename(d["file"]), d["reason"]) for d in dropped] == \
        [("wiki-4_1958-08-16_2007.jpg", "far_from_identity")]

    client = make_app(GALLERIES_DIR=str(tmp_path / "galleries"), GALLERY="celebs").test_client()
    photo = read(os.path.join(tmp_path, "src-imdb", "imdb_crop", "01", "nm0000255_rm1_1972-08-15_2004.jpg"))
    answer = client.post("/api/v1/match", data=multipart_files(photo=photo)).get_json()
    assert answer["matches"][0]["name"] == "Ben Affleck" and answer["matches"][0]["birth_year"] == 1972
    row = int(answer["matches"][0]["image_url"].rsplit("/", 1)[1].split(".")[0])
    assert row == gallery.portrait(ben)


def test_offline_fails_at_once_naming_the_url_and_from(refused_url, tmp_path, make_app):
    result = download(make_app, tmp_path, "--subset", "wiki", "--url", refused_url + "/wiki_crop.tar")
    assert result.exit_code == 1
    assert refused_url in result.output and "--from" in result.output
    assert not (tmp_path / "galleries" / "celebs").exists()


def test_mismatched_archive_options_are_refused(tmp_path, make_app):
    result = download(make_app, tmp_path, "--subset", "both", "--url", "http://127.0.0.1:9/x.tar")
    assert result.exit_code == 1 and "url" in result.output.lower()

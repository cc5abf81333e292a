"""GALLERY_URL on a real app (networks loaded, a local artifact server on 8750-8769): the gallery is fetched and
verified before the server is ready; a newer version is picked up on a check while requests keep working, each
answer naming faces of one version; a corrupt one or an unreachable URL leaves the served version, or fails
start-up naming the URL."""

from __future__ import annotations

import threading

import pytest
from artifact_support import artifact_server, demo, export, publish_people, read_bytes, rewrite_tar

from app.extensions import get_engine
from app.pipeline.errors import StartupError
from app.pipeline.galleries.reader import Gallery
from conftest import multipart_files, read, val_photos

THREE = ["madonna", "elton_john", "jerry_seinfeld"]


@pytest.fixture()
def artifacts(tmp_path):
    """Version 1 (three people) and version 2 (all five) of gallery "g", as artifact bytes, and their galleries."""
    galleries = str(tmp_path / "origin")
    old = publish_people(galleries, "g", THREE)
    export(galleries, "g", str(tmp_path / "v1.tar"))
    new = publish_people(galleries, "g", demo().identities)
    export(galleries, "g", str(tmp_path / "v2.tar"))
    return {"v1": read_bytes(str(tmp_path / "v1.tar")), "v2": read_bytes(str(tmp_path / "v2.tar")),
            "old": old, "new": new}


@pytest.fixture()
def server(artifacts):
    with artifact_server() as srv:
        srv.files["/g.tar"] = artifacts["v1"]
        yield srv


def url_app(make_app, server, tmp_path, **overrides):
    """A server app whose gallery comes from the artifact server (its own instance folders under tmp_path)."""
    settings = {"GALLERY": "", "GALLERY_URL": server.url("/g.tar"), "GALLERIES_DIR": str(tmp_path / "galleries"),
                "MODELS_DIR": str(tmp_path / "models"), "GALLERY_CHECK_SECONDS": 0, "GALLERY_FETCH_ATTEMPTS": 2,
                "GALLERY_FETCH_BACKOFF": 0, "CLI_COMMANDS": False, **overrides}
    return make_app(**settings)


def match(client, photo: bytes) -> dict:
    resp = client.post("/api/v1/match", data=multipart_files(photo=photo, top_k="3"))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()


def consistent(client, answer: dict, galleries: dict[str, Gallery]) -> bool:
    """Every match's image is the portrait of that identity in the version the answer names."""
    gallery = galleries[answer["gallery_version"]]
    for m in answer["matches"]:
        row = gallery.portrait(gallery.identities.index(m["identity"]))
        assert m["image_url"] == f"/gallery/g/{answer['gallery_version']}/{row}.jpg"
        if client.get(m["image_url"]).data != read_bytes(gallery.thumb_path(row)):
            return False
    return True


def test_the_url_gallery_is_fetched_and_verified_before_the_server_is_ready(make_app, server, artifacts, tmp_path):
    app = url_app(make_app, server, tmp_path)
    client = app.test_client()
    ready = client.get("/readyz").get_json()
    assert ready["status"] == "ready" and ready["gallery"] == "g"
    assert ready["gallery_version"] == artifacts["old"].version and ready["gallery_identities"] == 3
    answer = match(client, read(val_photos()[0][1]))
    assert answer["gallery_version"] == artifacts["old"].version
    assert consistent(client, answer, {artifacts["old"].version: artifacts["old"]})


def test_a_new_version_is_picked_up_on_a_check_while_requests_keep_working(make_app, server, artifacts, tmp_path):
    app = url_app(make_app, server, tmp_path, GALLERY_CHECK_SECONDS=3600)  # the watch thread waits; we trigger it
    client, engine = app.test_client(), app.extensions["lookslike"]
    old, new = artifacts["old"], artifacts["new"]
    photo = read(val_photos()[5][1])
    before = match(client, photo)
    in_flight = engine.served()  # what a request that started now holds
    server.files["/g.tar"] = artifacts["v2"]

    answers, stop = [], threading.Event()

    def keep_asking():
        worker = app.test_client()
        while not stop.is_set() or len(answers) < 2:
            answers.append(worker.post("/api/v1/match", data=multipart_files(photo=photo, top_k="3")))

    asker = threading.Thread(target=keep_asking)
    asker.start()
    engine.watch.trigger()
    assert engine.watch.wait_checks(1, timeout=120) and engine.watch.last_error is None
    stop.set()
    asker.join(120)

    assert client.get("/readyz").get_json()["gallery_version"] == new.version
    assert all(r.status_code == 200 for r in answers)
    versions = {old.version: old, new.version: new}
    assert all(consistent(client, r.get_json(), versions) for r in answers + [client.post(
        "/api/v1/match", data=multipart_files(photo=photo, top_k="3"))])
    # A request that starts after the swap gets the new version (one in flight during it may get either).
    after = client.post("/api/v1/match", data=multipart_files(photo=photo, top_k="3")).get_json()
    assert after["gallery_version"] == new.version
    assert in_flight.gallery.version == old.version and len(in_flight.gallery.identities) == 3  # untouched
    assert engine.served().gallery.version == new.version and len(engine.gallery.identities) == 5
    assert client.get(before["matches"][0]["image_url"]).status_code == 200  # a page of before still shows its face


def test_a_starting_worker_says_what_it_waits_for_until_the_gallery_is_verified(make_app, server, artifacts, tmp_path):
    server.hold.clear()  # the artifact's download waits
    app = url_app(make_app, server, tmp_path, REPORT_STARTUP_ERRORS=True)
    client, engine = app.test_client(), app.extensions["lookslike"]
    waiting = client.get("/readyz")
    assert waiting.status_code == 503
    assert waiting.get_json() == {"status": "loading", "message": f"fetching the gallery from {server.url('/g.tar')}"}
    refused = client.post("/api/v1/match", data=multipart_files(photo=read(val_photos()[0][1])))
    assert refused.status_code == 503 and refused.get_json()["error"] == "unavailable"
    server.hold.set()
    assert engine.watch.wait_checks(1, timeout=120)
    assert client.get("/readyz").get_json()["gallery_version"] == artifacts["old"].version


def test_a_restarted_worker_serves_its_verified_version_until_the_new_one_is(make_app, server, artifacts, tmp_path):
    url_app(make_app, server, tmp_path)  # the first start imported version 1 here
    server.files["/g.tar"] = artifacts["v2"]
    server.hold.clear()
    app = url_app(make_app, server, tmp_path, REPORT_STARTUP_ERRORS=True)  # a new worker (after kill -HUP)
    client, engine = app.test_client(), app.extensions["lookslike"]
    assert client.get("/readyz").get_json()["gallery_version"] == artifacts["old"].version  # ready at once
    server.hold.set()
    assert engine.watch.wait_checks(1, timeout=120)
    assert client.get("/readyz").get_json()["gallery_version"] == artifacts["new"].version


def test_a_corrupt_new_version_leaves_the_served_one(make_app, server, artifacts, tmp_path):
    app = url_app(make_app, server, tmp_path, GALLERY_CHECK_SECONDS=3600)
    engine = app.extensions["lookslike"]

    def flip(info, data):
        if info.name == "gallery/embeddings.npy":
            data = data[:-4] + bytes(4)
        return info, data
    rewrite_tar(str(tmp_path / "v2.tar"), str(tmp_path / "bad.tar"), flip)
    server.files["/g.tar"] = read_bytes(str(tmp_path / "bad.tar"))
    engine.watch.trigger()
    assert engine.watch.wait_checks(1, timeout=120)
    assert "gallery/embeddings.npy is damaged" in engine.watch.last_error
    ready = app.test_client().get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["gallery_version"] == artifacts["old"].version


def test_an_unreachable_url_is_a_start_up_failure_naming_it(make_app, server, tmp_path):
    server.files.clear()  # 404
    with pytest.raises(StartupError, match=f"GALLERY_URL {server.url('/g.tar')} could not be served.*HTTP 404"):
        url_app(make_app, server, tmp_path)
    app = url_app(make_app, server, tmp_path, REPORT_STARTUP_ERRORS=True)
    with app.app_context():
        assert get_engine().watch.wait_checks(1, timeout=120)
    failed = app.test_client().get("/readyz")
    assert failed.status_code == 503 and failed.get_json()["status"] == "failed"
    assert server.url("/g.tar") in failed.get_json()["message"]

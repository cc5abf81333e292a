"""PRIVATE_THREADS: the cross-origin isolation headers that private mode's threads need, sent only when asked for."""

from __future__ import annotations

import io
import re

import pytest

from conftest import read, val_photos

ISOLATION = ("Cross-Origin-Opener-Policy", "Cross-Origin-Embedder-Policy", "Cross-Origin-Resource-Policy")


def thumbnail(client) -> str:
    """A gallery thumbnail's path, from the image_url of a real match."""
    _, path = val_photos()[0]
    resp = client.post("/api/v1/match", data={"photo": (io.BytesIO(read(path)), "x.jpg")},
                       content_type="multipart/form-data")
    return resp.get_json()["matches"][0]["image_url"]


def served(client) -> dict[str, object]:
    """One response of each kind the page loads or is sent: pages, scripts, styles, JSON, a thumbnail."""
    paths = ["/", "/verify", "/static/js/page/camera.js", "/static/js/private/main.js", "/healthz", "/api/v1/model",
             thumbnail(client)]
    css = re.search(r'href="(/static/[^"]+\.css)"', client.get("/").get_data(as_text=True))
    return {path: client.get(path) for path in paths + [css.group(1)]}


@pytest.mark.parametrize("threads", [0, 1, "1"])
def test_no_isolation_headers_with_one_thread(make_app, threads):
    client = make_app(PRIVATE_THREADS=threads).test_client()
    for path, resp in served(client).items():
        assert resp.status_code == 200, path
        assert not set(ISOLATION) & set(resp.headers.keys()), path


@pytest.mark.parametrize("threads", [2, "4", "auto", " Auto "])
def test_threads_make_every_page_and_asset_cross_origin_isolated(make_app, threads):
    client = make_app(PRIVATE_THREADS=threads).test_client()
    for path, resp in served(client).items():
        assert resp.status_code == 200, path
        assert resp.headers["Cross-Origin-Opener-Policy"] == "same-origin", path
        assert resp.headers["Cross-Origin-Embedder-Policy"] == "require-corp", path
        # Thumbnails stay loadable by other sites, which the API gives their URLs to.
        corp = None if path.startswith("/gallery/") else "same-origin"
        assert resp.headers.get("Cross-Origin-Resource-Policy") == corp, path
        assert "'wasm-unsafe-eval'" in resp.headers["Content-Security-Policy"]  # the rest unchanged


def test_form_posts_from_other_sites_still_get_results(make_app):
    client = make_app(PRIVATE_THREADS="auto").test_client()
    _, path = val_photos()[0]
    resp = client.post("/match", data={"photo": (io.BytesIO(read(path)), "x.jpg")},
                       headers={"Origin": "https://elsewhere.example"}, content_type="multipart/form-data")
    assert resp.status_code == 200 and 'class="match-card"' in resp.get_data(as_text=True)
    assert resp.headers["Cross-Origin-Opener-Policy"] == "same-origin"


def test_errors_are_isolated_too(make_app):
    resp = make_app(PRIVATE_THREADS=2).test_client().post("/api/v1/match", json={"image": "!!"})
    assert resp.status_code == 400 and resp.headers["Cross-Origin-Embedder-Policy"] == "require-corp"


@pytest.mark.parametrize("threads", ["many", -2, 1.5, True])
def test_a_thread_count_that_is_no_number_stops_the_start(make_app, threads):
    with pytest.raises(ValueError, match="PRIVATE_THREADS"):
        make_app(PRIVATE_THREADS=threads)


def test_from_the_environment(make_app, monkeypatch):
    monkeypatch.setenv("LOOKSLIKE_PRIVATE_THREADS", "auto")
    resp = make_app().test_client().get("/")
    assert resp.headers["Cross-Origin-Embedder-Policy"] == "require-corp"

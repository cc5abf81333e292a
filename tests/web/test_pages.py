"""The upload page and the results page."""

from __future__ import annotations

import io
import os
import re

from conftest import read, val_photos


def post_form(client, data: bytes, **form):
    """Form post of a photo, as the upload page (or another site's form) sends it."""
    return client.post("/match", data={"photo": (io.BytesIO(data), "me.jpg"), **form},
                       content_type="multipart/form-data")


def test_upload_page_is_a_plain_form(client):
    resp = client.get("/")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert 'enctype="multipart/form-data"' in html and 'name="photo"' in html and 'action="/match"' in html


def test_results_page_shows_face_and_celebrities(client):
    identity, path = val_photos()[20]  # mindy_kaling
    resp = post_form(client, read(path), top_k="3")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert html.count('src="data:image/jpeg;base64,') == 1  # the visitor's face, inline, never on disk
    assert 'You look most like <span class="accent">Mindy Kaling</span></h1>' in html
    assert html.count("<h1") == 1 and html.count('class="match-card"') == 2  # the top match, then 2 more
    assert "/gallery/demo/" in html and 'href="/celebrity/mindy_kaling"' in html
    assert "Resemblance ranks a match" in html  # what the percentage means, on the page
    footer = html.split("<footer", 1)[1]
    assert "scorer" not in footer and "Gallery" not in footer


def test_results_page_gives_every_face_box_to_the_picker(client):
    import json

    from conftest import edge_case
    resp = post_form(client, read(edge_case("two_people.jpg")))
    html = resp.get_data(as_text=True)
    boxes = json.loads(html.split('data-boxes="', 1)[1].split('"', 1)[0].replace("&#34;", '"'))
    api = client.post("/api/v1/match", data={"photo": (io.BytesIO(read(edge_case("two_people.jpg"))), "p.jpg")},
                      content_type="multipart/form-data").get_json()
    assert boxes == [f["box"] for f in api["faces"]]
    assert f'data-face-index="{api["face_index"]}"' in html
    assert "We found 2 faces" in html and "nearest the middle" in html
    chosen = post_form(client, read(edge_case("two_people.jpg")), face=str(1 - api["face_index"]))
    assert f'data-face-index="{1 - api["face_index"]}"' in chosen.get_data(as_text=True)
    assert "the face you picked" in chosen.get_data(as_text=True)


def test_get_match_goes_to_the_upload_page(client):
    resp = client.get("/match")
    assert resp.status_code == 302 and resp.headers["Location"] == "/"


def test_celebrity_page(client):
    resp = client.get("/celebrity/madonna")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "<h1" in html and ">Madonna</h1>" in html
    assert html.count("/gallery/demo/") >= 5 and "data:image" not in html  # gallery photos only
    assert '<meta property="og:title" content="Do you look like Madonna?">' in html
    assert '<meta property="og:url" content="http://localhost/celebrity/madonna">' in html
    assert client.get("/celebrity/nobody_at_all").status_code == 404


def test_every_page_has_one_h1_alt_texts_and_a_favicon(client):
    _, path = val_photos()[3]
    pages = {"/": client.get("/"), "/verify": client.get("/verify"), "/celebrity": client.get("/celebrity/elton_john"),
             "results": post_form(client, read(path)),
             "verify result": client.post("/verify", data={"photo1": (io.BytesIO(read(path)), "a.jpg"),
                                                           "photo2": (io.BytesIO(read(path)), "b.jpg")},
                                          content_type="multipart/form-data")}
    for name, resp in pages.items():
        html = resp.get_data(as_text=True)
        assert resp.status_code == 200, name
        assert html.count("<h1") == 1, name
        for img in re.findall(r"<img\b[^>]*>", html):
            assert re.search(r'\balt="[^"]+"', img), f"{name}: {img[:120]}"
        assert 'rel="icon" href="/static/favicon.svg"' in html, name
    icon = client.get("/static/favicon.svg")
    assert icon.status_code == 200 and b"<svg" in icon.data


def test_pages_need_no_inline_code(client):
    """Ready for a strict Content-Security-Policy: no inline scripts, handlers or style attributes."""
    _, path = val_photos()[5]
    for resp in (client.get("/"), client.get("/verify"), client.get("/celebrity/madonna"),
                 post_form(client, read(path)), post_form(client, b"not an image")):
        html = resp.get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
        assert not re.search(r"\son[a-z]+\s*=", html)
        assert not re.search(r"\sstyle\s*=", html) and "<style" not in html


def test_form_from_another_site_needs_no_session(client):
    _, path = val_photos()[0]
    resp = client.post("/match", data={"photo": (io.BytesIO(read(path)), "x.jpg")},
                       headers={"Origin": "https://example.org", "Referer": "https://example.org/form"},
                       content_type="multipart/form-data")
    assert resp.status_code == 200


def test_page_errors_have_status_and_message(client, app):
    resp = post_form(client, b"not an image at all")
    assert resp.status_code == 415 and "not an image we can read" in resp.get_data(as_text=True)
    resp = client.post("/match", data={}, content_type="multipart/form-data")
    assert resp.status_code == 400 and "No photo was sent" in resp.get_data(as_text=True)
    resp = post_form(client, b"\0" * (app.config["MAX_CONTENT_LENGTH"] + 1))
    assert resp.status_code == 413 and "larger than the" in resp.get_data(as_text=True)
    import numpy as np

    from conftest import png_bytes
    resp = post_form(client, png_bytes(np.full((200, 200, 3), 90, np.uint8)))
    assert resp.status_code == 422 and "No face was found" in resp.get_data(as_text=True)
    assert 'name="photo"' in resp.get_data(as_text=True)  # the form is back, to try again


def test_uploads_stay_in_memory(app):
    """Werkzeug spools uploads over 500 KB to a temporary file; ours must stay in memory."""
    import flask
    big = b"\xff\xd8" + b"\0" * 2_000_000
    with app.test_request_context("/match", method="POST", content_type="multipart/form-data",
                                  data={"photo": (io.BytesIO(big), "me.jpg")}):
        stream = flask.request.files["photo"].stream
        assert isinstance(stream, io.BytesIO) and stream.getbuffer().nbytes == len(big)


def test_a_missing_thumbnail_is_a_404_not_a_500(tmp_path, make_app):
    import shutil

    from app.pipeline.galleries.reader import Gallery
    from conftest import ROOT

    demo = Gallery.load(os.path.join(ROOT, "instance", "galleries", "demo"))
    copy = tmp_path / "g" / ".versions" / "demo-1"
    shutil.copytree(demo.path, copy)
    os.symlink(".versions/demo-1", tmp_path / "g" / "demo")
    client = make_app(GALLERIES_DIR=str(tmp_path / "g")).test_client()
    assert client.get("/gallery/demo/1/5.jpg").status_code == 200
    os.remove(copy / "thumbs" / "5.jpg")
    assert client.get("/gallery/demo/1/5.jpg").status_code == 404

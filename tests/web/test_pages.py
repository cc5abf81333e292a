"""The upload page and the results page."""

from __future__ import annotations

import io

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
    assert 'src="data:image/jpeg;base64,' in html  # the visitor's face, inline, never on disk
    assert html.count('class="card match"') == 3
    first_name = html.split('<div class="name">', 1)[1].split("<", 1)[0]
    assert first_name == "Mindy Kaling"
    assert "/gallery/demo/" in html and "scorer: cosine" in html


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

"""Nothing a client sends gets a 500: nesting, corrupt images, multipart limits, odd filenames."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from conftest import png_bytes, read, val_photos


def shape_ok(resp, status: int, code: str | None = None) -> dict:
    """The documented error shape with the expected status."""
    body = resp.get_json()
    assert resp.status_code == status, (resp.status_code, body)
    assert set(body) <= {"error", "message", "field"} and body["message"]
    if code:
        assert body["error"] == code
    return body


def multipart(boundary: str, parts: list[bytes]) -> bytes:
    """A raw multipart body from pre-built parts."""
    sep = f"--{boundary}\r\n".encode()
    return sep + sep.join(parts) + f"--{boundary}--\r\n".encode()


def avif_bytes() -> bytes:
    """A small valid AVIF."""
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (120, 30, 200)).save(buf, "AVIF")
    return buf.getvalue()


@pytest.mark.parametrize("depth", [33, 5000, 200_000])
def test_deeply_nested_json_is_400(client, depth):
    data = '{"image": ' + "[" * depth + "]" * depth + "}"
    body = shape_ok(client.post("/api/v1/match", data=data, content_type="application/json"), 400, "bad_request")
    assert "levels deep" in body["message"]


def test_nesting_within_the_limit_is_parsed(client):
    resp = client.post("/api/v1/check", json={"image": "!!", "anchors": [[[["x"]]]]})
    assert shape_ok(resp, 400)["field"] in ("anchors", "image", "anchors[0]")


def test_corrupt_avif_is_415():
    """Pillow raises RuntimeError on some corrupt AVIF data: it must be 'unsupported media'."""
    from app.pipeline.errors import UnreadableImage
    from app.pipeline.photos.imaging import decode_image
    good = avif_bytes()
    corrupt = []
    for i in range(0, len(good), 7):
        flipped = bytearray(good)
        flipped[i] ^= 0xFF
        try:
            decode_image(bytes(flipped), 40_000_000, 1024)
        except UnreadableImage as exc:
            corrupt.append(type(exc.__cause__).__name__)
    assert "RuntimeError" in corrupt  # the case that used to be a 500


def test_corrupt_avif_upload_is_415(client):
    good = avif_bytes()
    for i in (84, 98, 126, len(good) // 2):
        flipped = bytearray(good)
        flipped[i % len(good)] ^= 0xFF
        resp = client.post("/api/v1/match", data={"photo": (io.BytesIO(bytes(flipped)), "x.avif")},
                           content_type="multipart/form-data")
        assert resp.status_code in (415, 422), resp.get_json()


def test_heic_is_415(client):
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 200
    resp = client.post("/api/v1/match", data={"photo": (io.BytesIO(heic), "x.heic")},
                       content_type="multipart/form-data")
    shape_ok(resp, 415, "unsupported_media")


def test_too_many_form_parts_gets_its_own_413(app, client):
    parts = [f'Content-Disposition: form-data; name="f{i}"\r\n\r\nx\r\n'.encode() for i in range(1100)]
    resp = client.post("/api/v1/match", data=multipart("B", parts), content_type="multipart/form-data; boundary=B")
    body = shape_ok(resp, 413, "too_large")
    assert f"more than {app.config['MAX_FORM_PARTS']} parts" in body["message"]


def test_big_text_field_gets_its_own_413(client):
    part = b'Content-Disposition: form-data; name="photo"\r\n\r\n' + b"a" * 600_000 + b"\r\n"
    resp = client.post("/api/v1/match", data=multipart("B", [part]), content_type="multipart/form-data; boundary=B")
    body = shape_ok(resp, 413, "too_large")
    assert "text field" in body["message"] and "MB limit" not in body["message"]


def test_body_over_the_limit_keeps_the_mb_message(app, client):
    resp = client.post("/api/v1/match", data=b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1),
                       content_type="application/octet-stream")
    assert "MB limit" in shape_ok(resp, 413, "too_large")["message"]


@pytest.mark.parametrize("filename", [b"\xff\xfe\xe9t\xe9.jpg", "фото.jpg".encode("koi8-r"), b"\x81\x40.png"])
def test_non_utf8_filenames_are_accepted(client, filename):
    photo = png_bytes(np.full((64, 64, 3), 100, np.uint8))
    part = (b'Content-Disposition: form-data; name="photo"; filename="' + filename + b'"\r\n'
            b"Content-Type: image/png\r\n\r\n" + photo + b"\r\n")
    resp = client.post("/api/v1/match", data=multipart("XyZ", [part]), content_type="multipart/form-data; boundary=XyZ")
    shape_ok(resp, 422, "no_face")  # the photo was read (it has no face), not "No photo was sent"


def test_non_utf8_filename_real_photo_on_the_page(client):
    _, path = val_photos()[1]
    part = (b'Content-Disposition: form-data; name="photo"; filename="\xe9t\xe9.jpg"\r\n\r\n' + read(path) + b"\r\n")
    resp = client.post("/match", data=multipart("b0und", [part]), content_type="multipart/form-data; boundary=b0und")
    assert resp.status_code == 200 and 'class="match-card"' in resp.get_data(as_text=True)


@pytest.mark.parametrize("body, ctype", [
    (b"--B\r\nno disposition\r\n\r\nx\r\n--B--\r\n", "multipart/form-data; boundary=B"),
    (b"whatever", "multipart/form-data"),
    (b"--B\r\n" + b"Content-Disposition: form-data; name=\"photo\"; filename=\"a\"\r\n\r\n" + b"\x00" * 10,
     "multipart/form-data; boundary=B"),
], ids=["no-disposition", "no-boundary", "unterminated"])
def test_malformed_multipart_is_400(client, body, ctype):
    shape_ok(client.post("/api/v1/match", data=body, content_type=ctype), 400, "bad_request")


def test_unexpected_failure_is_500_json_without_details(make_app):
    app = make_app(PROPAGATE_EXCEPTIONS=False)

    def boom():
        raise RuntimeError("secret detail")
    app.add_url_rule("/api/v1/boom", "boom", boom)
    resp = app.test_client().get("/api/v1/boom")
    body = shape_ok(resp, 500, "internal_error")
    assert "secret" not in body["message"]


def test_slow_body_is_408_without_a_socket(make_app):
    """The deadline holds between reads on any server (gunicorn also gets a socket timeout)."""
    import time

    app = make_app(BODY_TIMEOUT=0.2)

    class Slow(io.RawIOBase):
        def readable(self):
            return True

        def readinto(self, buf):
            time.sleep(0.1)
            buf[:1] = b"{"
            return 1
    env = {"wsgi.input": Slow(), "CONTENT_LENGTH": "100", "CONTENT_TYPE": "application/json"}
    resp = app.test_client().post("/api/v1/match", environ_overrides=env)
    assert shape_ok(resp, 408, "request_timeout")


def test_method_not_allowed_is_json_with_allow(client):
    resp = client.get("/api/v1/match")
    shape_ok(resp, 405, "method_not_allowed")
    assert "POST" in resp.headers["Allow"]


def test_bad_chunked_body_on_the_werkzeug_server(app):
    """`flask run` (werkzeug's server) dechunks with OSError on a bad chunk header: 400, not 500."""
    import socket
    import threading

    from werkzeug.serving import make_server
    for port in range(8407, 8410):
        try:
            server = make_server("127.0.0.1", port, app, threaded=True)
            break
        except OSError:
            continue
    else:
        pytest.skip("no free port in 8407-8409")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"POST /api/v1/match HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                      b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nabc\r\n0\r\n\r\n")
            raw = b""
            while chunk := s.recv(65536):
                raw += chunk
    finally:
        server.shutdown()
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.split()[1] == b"400" and b'"error":"bad_request"' in body.replace(b" ", b"")

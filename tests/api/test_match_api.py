"""The JSON API on real photos and bad inputs."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from conftest import edge_case, png_bytes, read, val_photos


def post_photo(client, data: bytes, filename: str = "photo.jpg", **form):
    """Multipart POST to the match API."""
    import io
    return client.post("/api/v1/match", data={"photo": (io.BytesIO(data), filename), **form},
                       content_type="multipart/form-data")


def test_val_photos_identify_their_celebrity(client):
    photos = val_photos()
    assert len(photos) == 25
    correct = []
    for identity, path in photos:
        resp = post_photo(client, read(path))
        assert resp.status_code == 200, resp.get_json()
        body = resp.get_json()
        assert body["faces_detected"] >= 1
        assert len(body["face"]["box"]) == 4 and 0.8 <= body["face"]["confidence"] <= 1
        names = [m["name"] for m in body["matches"]]
        assert len(names) == len(set(names)) == 5  # top-k distinct identities (all 5 of the demo)
        scores = [m["score"] for m in body["matches"]]
        assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
        correct.append(body["matches"][0]["identity"] == identity)
    assert sum(correct) >= 24, f"top-1 correct for only {sum(correct)}/25"


def test_image_url_serves_the_matched_thumbnail(client):
    identity, path = val_photos()[0]
    body = post_photo(client, read(path)).get_json()
    url = body["matches"][0]["image_url"]
    version = body["gallery_version"]
    assert url.startswith(f"/gallery/demo/{version}/") and url.endswith(".jpg")  # no PUBLIC_URL: a path, not the Host
    img = client.get(url)
    assert img.status_code == 200 and img.mimetype == "image/jpeg" and img.data[:2] == b"\xff\xd8"
    assert client.get(f"/gallery/demo/{version}/999999.jpg").status_code == 404
    assert client.get(f"/gallery/other/{version}/0.jpg").status_code == 404
    assert client.get(url.replace(version, "20000101T000000-000000000")).status_code == 404  # not on this server
    assert client.get(url.replace(f"{version}/", "")).status_code == 404  # the unversioned shape is gone
    for bad in ("..", ".versions", f"{version}.partial", "legacy-x/../.."):
        assert client.get(f"/gallery/demo/{bad}/0.jpg").status_code == 404


def test_json_base64_gives_the_same_answer(client):
    _, path = val_photos()[7]
    multipart = post_photo(client, read(path), top_k="3").get_json()
    resp = client.post("/api/v1/match", json={"image": base64.b64encode(read(path)).decode(), "top_k": 3})
    assert resp.status_code == 200
    assert resp.get_json() == multipart
    assert len(multipart["matches"]) == 3


def test_data_url_prefix_is_accepted(client):
    _, path = val_photos()[3]
    text = "data:image/jpeg;base64," + base64.b64encode(read(path)).decode()
    assert client.post("/api/v1/match", json={"image": text}).status_code == 200


@pytest.mark.parametrize("rgb", [np.full((240, 320, 3), 128, np.uint8),
                                 np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)],
                         ids=["grey", "noise"])
def test_photo_without_face_is_422(client, rgb):
    resp = post_photo(client, png_bytes(rgb), "blank.png")
    assert resp.status_code == 422
    assert resp.get_json()["error"] == "no_face"


def test_tiny_face_is_422_face_too_small(client):
    import io

    from PIL import Image
    _, path = val_photos()[0]
    img = Image.open(path).convert("RGB")  # face about 114 px wide, shrunk to about 25 px
    small = img.resize((round(img.width * 0.22), round(img.height * 0.22)), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (640, 480), (200, 200, 200))
    canvas.paste(small, (300, 200))
    buf = io.BytesIO()
    canvas.save(buf, "PNG")
    resp = post_photo(client, buf.getvalue(), "small.png")
    assert resp.status_code == 422
    assert resp.get_json()["error"] == "face_too_small" and "px" in resp.get_json()["message"]


def test_text_file_is_415(client):
    resp = post_photo(client, b"hello, I am not a photo\n" * 20, "notes.txt")
    assert resp.status_code == 415
    assert resp.get_json()["error"] == "unsupported_media"


def test_truncated_jpeg_is_415(client):
    _, path = val_photos()[0]
    resp = post_photo(client, read(path)[:200])
    assert resp.status_code == 415


def test_upload_over_the_limit_is_413(client, app):
    limit = app.config["MAX_CONTENT_LENGTH"]
    resp = post_photo(client, b"\xff" * (limit + 1024))
    assert resp.status_code == 413
    assert resp.get_json()["error"] == "too_large"


def test_image_over_the_pixel_limit_is_413(client, app):
    big = png_bytes(np.zeros((3000, 3000, 3), np.uint8))
    old = app.config["MAX_IMAGE_PIXELS"]
    app.config["MAX_IMAGE_PIXELS"] = 4_000_000
    try:
        resp = post_photo(client, big, "big.png")
    finally:
        app.config["MAX_IMAGE_PIXELS"] = old
    assert resp.status_code == 413 and resp.get_json()["error"] == "too_large"


@pytest.mark.parametrize("kwargs", [
    {"data": {}, "content_type": "multipart/form-data"},
    {"json": {"picture": "abc"}},
    {"json": {"image": "%%%not base64%%%"}},
    {"json": {"image": ""}},
    {"json": ["image"]},
    {"data": "{not json", "content_type": "application/json"},
], ids=["no-field", "wrong-key", "bad-base64", "empty", "json-list", "bad-json"])
def test_malformed_requests_are_400(client, kwargs):
    resp = client.post("/api/v1/match", **kwargs)
    assert resp.status_code == 400, resp.data
    assert resp.get_json()["error"] == "bad_request" and resp.get_json()["message"]


@pytest.mark.parametrize("top_k", ["0", "21", "abc", "2.5", "\u00b2", "-1", "99999999999"])
def test_bad_top_k_is_400(client, top_k):
    _, path = val_photos()[0]
    resp = post_photo(client, read(path), top_k=top_k)
    assert resp.status_code == 400 and resp.get_json()["field"] == "top_k"


def test_answers_to_a_photo_are_never_cached(client):
    _, path = val_photos()[1]
    assert post_photo(client, read(path)).headers["Cache-Control"] == "no-store"
    assert post_photo(client, b"junk").headers["Cache-Control"] == "no-store"


def test_server_keeps_serving_after_errors(client):
    post_photo(client, b"garbage")
    client.post("/api/v1/match", json={"image": "!!"})
    identity, path = val_photos()[12]
    resp = post_photo(client, read(path))
    assert resp.status_code == 200 and resp.get_json()["matches"][0]["identity"] == identity


def test_health_and_readiness(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz").get_json()
    assert ready["status"] == "ready" and ready["gallery"] == "demo"
    assert ready["gallery_rows"] > 80 and ready["gallery_identities"] == 5


def test_rgba_png_edge_case(client):
    resp = post_photo(client, read(edge_case("32bit.png")), "32bit.png")
    assert resp.status_code == 200 and resp.get_json()["faces_detected"] >= 1


def test_two_people_reports_both_faces(client):
    resp = post_photo(client, read(edge_case("two_people.jpg")))
    body = resp.get_json()
    assert resp.status_code == 200 and body["faces_detected"] == 2
    assert len(body["faces"]) == 2 and body["face"] in body["faces"]
    area = lambda f: f["box"][2] * f["box"][3]
    assert area(body["faces"][0]) >= area(body["faces"][1])


def test_face_index_picks_a_face(client):
    data = read(edge_case("two_people.jpg"))
    default = post_photo(client, data).get_json()
    assert default["faces"][default["face_index"]] == default["face"]
    for k in (0, 1):
        body = post_photo(client, data, face=str(k)).get_json()
        assert body["face_index"] == k and body["face"] == default["faces"][k]
    other = 1 - default["face_index"]
    assert post_photo(client, data, face=str(other)).get_json()["matches"] != default["matches"]
    json_body = {"image": base64.b64encode(data).decode(), "face": other}
    assert client.post("/api/v1/match", json=json_body).get_json()["face_index"] == other


def test_face_index_that_does_not_exist_is_422(client):
    _, path = val_photos()[0]
    body = post_photo(client, read(path), face="0").get_json()
    assert body["face_index"] == 0
    resp = post_photo(client, read(path), face="7")
    assert resp.status_code == 422
    err = resp.get_json()
    assert err["error"] == "no_such_face" and err["field"] == "face"
    assert err["message"].startswith("There is no face 7 in this photo: it has ")
    for bad in ("-1", "first", "1.5"):
        resp = post_photo(client, read(path), face=bad)
        assert resp.status_code == 400 and resp.get_json()["field"] == "face", bad


def test_low_resolution_240p(client):
    resp = post_photo(client, read(edge_case("obama-240p.jpg")))
    assert resp.status_code == 200 and resp.get_json()["faces_detected"] == 1

"""Crowds, tiny files that decode huge and crowd anchors: the right answers, in API, page and CLI.

Time and memory of the same cases are measured by bench/hostile.py, not asserted here.
"""

from __future__ import annotations

import pytest

from conftest import multipart_files
from hostile_inputs import crowd_jpeg, flat_image, portrait


@pytest.fixture(scope="module")
def crowd() -> bytes:
    """625 real demo faces tiled into one JPEG under 1 MB."""
    data = crowd_jpeg()
    assert len(data) < 1_000_000
    return data


def upload(client, path: str, **fields):
    """POST files (bytes or lists of bytes) and text fields as multipart."""
    return client.post(path, data=multipart_files(**fields), content_type="multipart/form-data")


def test_crowd_keeps_the_largest_faces_and_counts_the_others(client, crowd):
    resp = upload(client, "/api/v1/match", photo=crowd)
    body = resp.get_json()
    assert resp.status_code == 200, body
    assert body["faces_detected"] == len(body["faces"]) == 20
    assert body["faces_ignored"] > 0 and body["faces_total"] == 20 + body["faces_ignored"]
    assert 0 <= body["face_index"] < 20 and body["matches"]


def test_a_few_faces_are_all_kept(make_app):
    """Under MAX_FACES nothing is ignored; MAX_FACES=1 keeps only the largest."""
    two = crowd_jpeg(grid=2, tile=200)
    body = upload(make_app().test_client(), "/api/v1/match", photo=two).get_json()
    assert body["faces_total"] == body["faces_detected"] == 4 and body["faces_ignored"] == 0
    body = upload(make_app(MAX_FACES=1).test_client(), "/api/v1/match", photo=two).get_json()
    assert body["faces_detected"] == 1 and body["faces_ignored"] == 3


def test_crowd_face_index_past_the_kept_faces_is_422(client, crowd):
    body = upload(client, "/api/v1/match", photo=crowd, face="20").get_json()
    assert body["error"] == "no_such_face" and "20 faces (numbered 0 to 19)" in body["message"]


def test_crowd_page_says_how_many_faces_were_ignored(client, crowd):
    page = upload(client, "/match", photo=crowd).get_data(as_text=True)
    assert "only the 20 largest were looked at" in page


@pytest.mark.parametrize("fmt", ["WEBP", "PNG"])
def test_small_file_that_decodes_huge_is_413_everywhere(client, fmt):
    huge = flat_image(6300, fmt)
    resp = upload(client, "/api/v1/match", photo=huge)
    body = resp.get_json()
    assert resp.status_code == 413 and body["error"] == "decode_too_large" and "32 MB" in body["message"]
    page = upload(client, "/match", photo=huge)
    assert page.status_code == 413 and "would take 114 MB of memory" in page.get_data(as_text=True)
    resp = upload(client, "/api/v1/verify", photo1=portrait(), photo2=huge)
    assert resp.status_code == 413 and resp.get_json()["field"] == "photo2"


def test_cli_names_the_decode_budget(runner, tmp_path):
    path = tmp_path / "huge.webp"
    path.write_bytes(flat_image(6300, "WEBP"))
    result = runner.invoke(args=["match", str(path)])
    assert result.exit_code != 0 and "decode_too_large:" in result.output and "Traceback" not in result.output


def test_cli_match_says_faces_were_ignored(runner, tmp_path, crowd):
    path = tmp_path / "crowd.jpg"
    path.write_bytes(crowd)
    result = runner.invoke(args=["match", str(path), "--top", "1"])
    assert result.exit_code == 0 and "20 detected" in result.output and "smaller faces ignored" in result.output


def test_check_with_ten_crowd_anchors(client):
    """Ten anchors are detected at 324 px each (one photo's pixels in all): a crowd's 72-px tiles
    shrink to 13 px, mostly under MTCNN's smallest face, so some anchor has no face (422, named)."""
    anchors = [crowd_jpeg(offset=k) for k in range(10)]
    resp = upload(client, "/api/v1/check", photo=portrait(), anchor=anchors)
    body = resp.get_json()
    assert resp.status_code == 422 and body["error"] in ("no_face", "face_too_small"), body
    assert body["field"].startswith("anchor[")


def test_check_anchors_at_reduced_size_still_work(client):
    """Ten real portraits as anchors (each detected at 324 px) against a photo of the same person."""
    from conftest import read, val_photos

    mine = [read(path) for identity, path in val_photos() if identity == "jerry_seinfeld"]
    resp = upload(client, "/api/v1/check", photo=mine[0], anchor=(mine[1:] * 10)[:10])
    body = resp.get_json()
    assert resp.status_code == 200 and body["anchors_used"] == 10 and body["is_subject"] is True, body


def test_anchor_over_the_budget_names_its_field(client):
    resp = upload(client, "/api/v1/check", photo=portrait(), anchor=[portrait(1), flat_image(6300, "WEBP")])
    assert resp.status_code == 413 and resp.get_json()["field"] == "anchor[1]"

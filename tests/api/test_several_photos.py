"""Several photos of one visitor, matched together: real photos through API, JSON, CLI and rate limits."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from app.pipeline.errors import DifferentPeople
from app.pipeline.scoring.photo_sets import check_one_person
from app.pipeline.scoring.several_photos import combine_embeddings as combine
from conftest import multipart_files, read, val_photos


def photos_of(identity: str, count: int) -> list[bytes]:
    """The first `count` held-out photos of a demo identity."""
    return [read(path) for who, path in val_photos() if who == identity][:count]


def test_two_photos_of_one_person_are_matched_together(client, engine):
    two = photos_of("madonna", 2)
    answer = client.post("/api/v1/match", data=multipart_files(photo=two, top_k="3")).get_json()
    assert answer["photos_used"] == 2 and [p["field"] for p in answer["photos"]] == ["photo[0]", "photo[1]"]
    assert answer["matches"][0]["identity"] == "madonna"
    # The query is the normalised mean of the two photos' embeddings: its cosine to the matched row says so.
    e = np.stack([engine.analyze(p).embedding for p in two])
    row = engine.gallery.embeddings[np.flatnonzero(engine.gallery.labels == engine.gallery.identities.index(
        "madonna"))]
    assert answer["matches"][0]["cosine"] == pytest.approx(float((row @ combine(e)).max()), abs=1e-4)
    single = client.post("/api/v1/match", data=multipart_files(photo=two[0])).get_json()
    assert single["photos_used"] == 1 and "photos" not in single

    as_json = client.post("/api/v1/match", json={"images": [base64.b64encode(p).decode() for p in two],
                                                 "top_k": 3}).get_json()
    assert as_json["photos_used"] == 2 and as_json["matches"] == answer["matches"]


def test_photos_of_different_people_are_refused_naming_the_odd_one(client):
    madonna, elton = photos_of("madonna", 2), photos_of("elton_john", 1)
    odd = client.post("/api/v1/match", data=multipart_files(photo=[madonna[0], elton[0], madonna[1]]))
    body = odd.get_json()
    assert odd.status_code == 422 and body["error"] == "different_people" and body["field"] == "photo[1]"
    assert "photo[1] shows someone else" in body["message"]
    pair = client.post("/api/v1/match", data=multipart_files(photo=[madonna[0], elton[0]]))
    assert pair.status_code == 422 and "These 2 photos show different people" in pair.get_json()["message"]
    page = client.post("/match", data=multipart_files(photo=[madonna[0], elton[0]]))
    assert page.status_code == 422 and "show different people" in page.get_data(as_text=True)


@pytest.mark.parametrize("data, field", [
    ({"photo": photos_of("madonna", 4)}, "photo"),
    ({"photo": photos_of("madonna", 2), "face": "0"}, "face"),
])
def test_too_many_photos_or_a_face_index_with_several_are_bad_requests(client, data, field):
    response = client.post("/api/v1/match", data=multipart_files(**data))
    assert response.status_code == 400 and response.get_json()["field"] == field


def test_json_image_and_images_together_are_refused(client):
    one = base64.b64encode(photos_of("madonna", 1)[0]).decode()
    response = client.post("/api/v1/match", json={"image": one, "images": [one, one]})
    assert response.status_code == 400 and response.get_json()["field"] == "images"


def test_each_photo_counts_against_the_rate_limit(make_app):
    client = make_app(RATE_LIMIT="3/minute").test_client()
    assert client.post("/api/v1/match", data=multipart_files(photo=photos_of("madonna", 3))).status_code == 200
    limited = client.post("/api/v1/match", data=multipart_files(photo=photos_of("madonna", 1)))
    assert limited.status_code == 429


def test_cli_matches_several_photos(runner, tmp_path):
    paths = []
    for i, data in enumerate(photos_of("jerry_seinfeld", 2)):
        paths.append(tmp_path / f"{i}.jpg")
        paths[-1].write_bytes(data)
    result = runner.invoke(args=["match", *map(str, paths), "--top", "1"])
    assert result.exit_code == 0, result.output
    assert "2 photos of one person, matched together" in result.output and "Jerry Seinfeld" in result.output


def test_one_person_check_on_embeddings(engine):
    same = np.stack([engine.analyze(p).embedding for p in photos_of("mindy_kaling", 3)])
    check_one_person(same, ["a", "b", "c"], engine.scorer, engine.calibration, 0.01)  # no error
    other = engine.analyze(photos_of("ben_afflek", 1)[0]).embedding
    with pytest.raises(DifferentPeople) as caught:
        check_one_person(np.stack([same[0], same[1], other]), ["a", "b", "c"], engine.scorer, engine.calibration,
                         0.01)
    assert caught.value.field == "c"
    assert np.linalg.norm(combine(same)) == pytest.approx(1.0, abs=1e-6)


def test_the_answer_says_how_sure_it_is(client, make_app):
    one = client.post("/api/v1/match", data=multipart_files(photo=photos_of("madonna", 1))).get_json()
    # One photo's first answer never held often enough on LFW to be called clear (CERTAINTY_CLEAR_MARGIN "1": null).
    assert one["certainty"]["level"] == "close_call" and one["certainty"]["margin"] > 0
    page = client.post("/match", data=multipart_files(photo=photos_of("madonna", 2))).get_data(as_text=True)
    assert 'data-certainty="close_call"' in page and "from your 2 photos" in page and "Add another photo" in page
    lenient = make_app(CERTAINTY_CLEAR_MARGIN={"1": 0.0, "2": 0.0, "3": 0.0}).test_client()
    clear = lenient.post("/api/v1/match", data=multipart_files(photo=photos_of("madonna", 1))).get_json()
    assert clear["certainty"] == {"level": "clear", "margin": one["certainty"]["margin"]}

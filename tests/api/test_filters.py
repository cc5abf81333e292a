"""Searching among some celebrities: gender and birth-year filters on real photos, in API, page and CLI,
and the count of those left out for lack of data."""

from __future__ import annotations

import base64

import pytest

from app.pipeline.errors import BadRequest
from app.pipeline.scoring.attribute_filter import AttributeFilter
from conftest import multipart_files, read, val_photos


def madonna() -> bytes:
    """A held-out photo of Madonna (female, born 1958 in the demo names)."""
    return read(next(path for who, path in val_photos() if who == "madonna"))


def match(client, **fields):
    """POST /api/v1/match with the photo and form fields; the response."""
    return client.post("/api/v1/match", data=multipart_files(photo=madonna(), top_k="5", **fields))


def test_filters_restrict_the_answer_and_are_echoed(client):
    unfiltered = match(client).get_json()
    assert unfiltered["matches"][0]["identity"] == "madonna" and "filters" not in unfiltered
    assert unfiltered["matches"][0]["birth_year"] == 1958 and unfiltered["matches"][0]["gender"] == "female"

    men = match(client, gender="male").get_json()
    assert {m["identity"] for m in men["matches"]} == {"ben_afflek", "elton_john", "jerry_seinfeld"}
    assert men["filters"] == {"gender": "male", "celebrities": 3, "left_out_unknown": 0}

    young = match(client, born_after="1970").get_json()
    assert {m["identity"] for m in young["matches"]} == {"ben_afflek", "mindy_kaling"}
    assert all(m["birth_year"] > 1970 for m in young["matches"])

    both = client.post("/api/v1/match", json={"image": base64.b64encode(madonna()).decode(),
                                              "gender": "female", "born_before": 1960}).get_json()
    assert [m["identity"] for m in both["matches"]] == ["madonna"]
    # The same order as without filters among those that pass: a filter never changes a score.
    scores = {m["identity"]: m["score"] for m in unfiltered["matches"]}
    assert all(scores[m["identity"]] == m["score"] for m in men["matches"])


@pytest.mark.parametrize("fields, status, field", [
    ({"gender": "robot"}, 400, "gender"),
    ({"born_after": "nineteen"}, 400, "born_after"),
    ({"born_after": "1990", "born_before": "1980"}, 400, "born_before"),
    ({"born_before": "1700"}, 400, "born_before"),
    ({"gender": "female", "born_before": "1900"}, 422, None),
])
def test_bad_filters_get_their_own_answer(client, fields, status, field):
    response = match(client, **fields)
    body = response.get_json()
    assert response.status_code == status, body
    if status == 422:
        assert body["error"] == "no_celebrity_passes" and "widen the search" in body["message"]
    else:
        assert body["error"] == "bad_request" and body["field"] == field


def test_identities_without_the_attribute_are_counted_not_hidden():
    table = [{"id": "a", "gender": "female", "birth_year": 1970}, {"id": "b", "gender": "male"},
             {"id": "c"}, {"id": "d", "gender": "female", "birth_year": 1990}]
    allowed, unknown = AttributeFilter(gender="female").allowed(table)
    assert allowed.tolist() == [True, False, False, True] and unknown == 1  # c has no gender
    allowed, unknown = AttributeFilter(born_before=1980).allowed(table)
    assert allowed.tolist() == [True, False, False, False] and unknown == 2  # b and c: no birth year
    with pytest.raises(BadRequest):
        AttributeFilter(gender="other")


def test_page_and_cli_take_the_filters(client, runner, tmp_path):
    page = client.post("/match", data=multipart_files(photo=madonna(), top_k="3", gender="male"))
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Among the 3 celebrities who are men" in html
    assert "Madonna" not in html.split("Your other look-alikes")[0].split("You look most like")[1]
    assert 'data-filters="{&#34;gender&#34;: &#34;male&#34;}"' in html  # the face picker repeats the search
    photo = tmp_path / "m.jpg"
    photo.write_bytes(madonna())
    result = runner.invoke(args=["match", str(photo), "--top", "2", "--born-before", "1950"])
    assert result.exit_code == 0, result.output
    assert "among 1 celebrities passing the filters" in result.output and "Elton John" in result.output
    assert "born 1947" in result.output

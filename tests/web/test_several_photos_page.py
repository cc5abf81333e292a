"""The upload page with several photos of one person: the form, the 422 page in plain words, the results."""

from __future__ import annotations

import re

import numpy as np
import pytest

from app.pipeline.errors import DifferentPeople, NoFace
from app.web.visitor_messages import photo_index, visitor_message
from conftest import multipart_files, png_bytes, read, val_photos


def photos_of(identity: str, count: int) -> list[bytes]:
    """The first `count` held-out photos of a demo identity."""
    return [read(path) for who, path in val_photos() if who == identity][:count]


def error_box(html: str) -> tuple[str, str | None]:
    """(message, data-error-photo) of the page's error box."""
    box = re.search(r'<div class="alert" id="form-error" role="alert" data-error(?: data-error-photo="(\d)")?>'
                    r'.*?<p class="alert-message" data-error-message>(.*?)</p>', html, re.S)
    assert box, html[:2000]
    return box.group(2), box.group(1)


def test_the_form_takes_up_to_three_photos_without_a_script(client):
    html = client.get("/").get_data(as_text=True)
    chooser = re.search(r'<input class="file-input" id="photo" name="photo"[^>]*>', html).group(0)
    assert " multiple" in chooser and " required" in chooser  # several at once, in one field
    assert "Up to 3 photos of you, matched together" in html
    more = re.search(r'<input[^>]*data-add-input[^>]*>', html).group(0)
    assert "name=" not in more and " hidden" in more  # the script's add button: never sent by itself
    assert "data-adding" not in html


def test_the_close_calls_link_asks_for_several_photos(client):
    page = client.post("/match", data=multipart_files(photo=photos_of("madonna", 1))).get_data(as_text=True)
    assert 'data-certainty="close_call"' in page
    link = re.search(r'<a href="([^"]+)" data-add-photos>Add another photo</a>', page)
    assert link and link.group(1) == "/?more=1#photo-zone"
    adding = client.get(link.group(1)).get_data(as_text=True)
    assert "choose 2 or 3 photos of yourself together" in adding and "choose it again with the others" in adding
    assert 'id="photo-zone"' in adding and "Choose 2 or 3 photos" in adding


def test_three_photos_say_which_one_differs(client):
    madonna, elton = photos_of("madonna", 2), photos_of("elton_john", 1)
    resp = client.post("/match", data=multipart_files(photo=[madonna[0], elton[0], madonna[1]]))
    assert resp.status_code == 422
    message, about = error_box(resp.get_data(as_text=True))
    assert message == ("Your second photo shows a different person from the other two. Please use photos of one person "
                       "only: remove that photo or choose another one of you.")
    assert about == "1"  # for the script: outline that photo, still in the visitor's page
    assert 'name="photo"' in resp.get_data(as_text=True)  # the form is back, to try again


def test_two_photos_of_different_people_are_said_to_differ(client):
    two = [photos_of("madonna", 1)[0], photos_of("ben_afflek", 1)[0]]
    resp = client.post("/match", data=multipart_files(photo=two))
    assert resp.status_code == 422
    message, about = error_box(resp.get_data(as_text=True))
    assert message == "These two photos show different people. Please use photos of one person only."
    assert about is None  # neither is the odd one out


def test_a_photo_without_a_face_among_several_is_named(client):
    wall = png_bytes(np.full((240, 320, 3), 128, np.uint8))
    resp = client.post("/match", data=multipart_files(photo=[photos_of("madonna", 1)[0], wall]))
    assert resp.status_code == 422
    message, about = error_box(resp.get_data(as_text=True))
    assert message.startswith("Second photo: No face was found") and about == "1"
    api = client.post("/api/v1/match", data=multipart_files(photo=[photos_of("madonna", 1)[0], wall])).get_json()
    assert api["field"] == "photo[1]" and api["message"].startswith("photo[1]: No face was found")


def test_four_photos_are_refused_in_plain_words(client):
    resp = client.post("/match", data=multipart_files(photo=photos_of("madonna", 4)))
    assert resp.status_code == 400
    assert error_box(resp.get_data(as_text=True))[0] == "At most 3 photos are accepted; got 4."


def test_several_photos_have_no_face_picker(client):
    page = client.post("/match", data=multipart_files(photo=photos_of("jerry_seinfeld", 2))).get_data(as_text=True)
    assert "You look most like" in page and "from your 2 photos" in page
    assert "data-picker-section" not in page  # a face is picked in one photo only


@pytest.mark.parametrize("error, words, index", [
    (DifferentPeople("x", field="embeddings[2]", odd=2, photos=3), "Your third photo shows a different person", 2),
    (DifferentPeople("x", field="photo[2]", photos=3), "These photos show different people", None),
    (NoFace("No face.").for_field("embeddings[0]"), "First photo: No face.", 0),
    (NoFace("No face.").for_field("photo2"), "Second photo: No face.", None),
    (NoFace("No face.").for_field("photo"), "photo: No face.", None),
])
def test_messages_name_the_photo_in_words(error, words, index):
    assert visitor_message(error).startswith(words) and photo_index(error) == index

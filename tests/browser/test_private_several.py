"""Several photos of one person in private mode, in real Chromium: each face is found and embedded in the
page, and only the embeddings leave it, together in one request; the same photos upload together when
private mode is switched off."""

from __future__ import annotations

import json
import pathlib
import re

import pytest
from PIL import Image

from browser.browser_support import val_photo
from browser.test_private import open_private, record

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed").expect


def posts(sent: list) -> list[tuple[str, bytes]]:
    return [(url, body) for method, url, body in sent if method == "POST"]


def test_several_photos_in_private_mode_and_uploaded(page, private_server):
    open_private(page, private_server)
    sent = record(page)
    paths = [val_photo("jerry_seinfeld", 0), val_photo("jerry_seinfeld", 1)]
    photos = [pathlib.Path(p).read_bytes() for p in paths]
    page.set_input_files("#photo", paths)
    expect(page.locator(".photo-thumb")).to_have_count(2)
    page.click("[data-submit]")
    expect(page.locator("#result-heading")).to_have_text("You look most like Jerry Seinfeld")
    expect(page.locator("[data-certainty]")).to_contain_text("from your 2 photos")
    assert [url for url, _ in posts(sent)] == [private_server + "/match/embedding"]
    body = json.loads(posts(sent)[0][1])
    assert set(body) == {"embeddings", "embedding_model", "top_k"}
    assert [len(e) for e in body["embeddings"]] == [128, 128]
    for _, url, data in sent:  # nothing of either photo leaves the page, and nothing goes elsewhere
        assert url.startswith(private_server) or url.startswith(("blob:", "data:")), url
        assert b"\xff\xd8\xff" not in data and not any(p[-64:] in data for p in photos)
    assert page.get_attribute("[data-you-img]", "src").startswith("blob:")  # the first photo's face, made here
    expect(page.locator("[data-picker-section]")).to_have_count(0)
    # The same two photos, uploaded: private mode off, one form post with both.
    page.go_back()
    expect(page.locator(".photo-thumb")).to_have_count(2)
    page.uncheck("[data-private-toggle]")
    page.route("**/match", lambda route: route.continue_())  # so that the driver sees the body
    with page.expect_request(lambda r: r.method == "POST") as upload:
        page.click("[data-submit]")
    assert upload.value.url == private_server + "/match"
    assert len(re.findall(rb'name="photo"; filename=', upload.value.post_data_buffer)) == 2
    expect(page.locator("#result-heading")).to_have_text("You look most like Jerry Seinfeld")
    expect(page.locator("[data-certainty]")).to_contain_text("from your 2 photos")


def test_the_odd_photo_is_named_in_private_mode(page, private_server):
    open_private(page, private_server)
    sent = record(page)
    page.set_input_files("#photo", [val_photo("madonna", 0), val_photo("elton_john", 0), val_photo("madonna", 1)])
    page.click("[data-submit]")
    expect(page.locator("[data-error-message]")).to_have_text(
        "Your second photo shows a different person from the other two. Please use photos of one person only: "
        "remove that photo or choose another one of you.")
    expect(page.locator(".photo-thumb.flagged")).to_contain_text("Photo 2")
    (url, data), = posts(sent)
    assert url == private_server + "/match/embedding" and len(json.loads(data)["embeddings"]) == 3


def test_a_photo_without_a_face_is_named_before_anything_is_sent(page, private_server, tmp_path):
    open_private(page, private_server)
    sent = record(page)
    wall = tmp_path / "wall.png"
    Image.new("RGB", (320, 240), (128, 128, 128)).save(wall)
    page.set_input_files("#photo", [val_photo("mindy_kaling", 0), str(wall)])
    page.click("[data-submit]")
    expect(page.locator("[data-error-message]")).to_contain_text("Second photo: No face was found")
    expect(page.locator(".photo-thumb.flagged")).to_contain_text("Photo 2")
    assert posts(sent) == []


def test_private_mode_keeps_the_filters(page, private_server):
    open_private(page, private_server)
    sent = record(page)
    page.set_input_files("#photo", val_photo("madonna", 2))
    page.click("summary")
    page.select_option("#gender", "male")
    page.fill("#born_before", "1980")
    page.click("[data-submit]")
    expect(page.locator("[data-filters-note]")).to_contain_text("who are men born before 1980")
    body = json.loads(posts(sent)[0][1])
    assert body["gender"] == "male" and body["born_before"] == "1980" and "embedding" in body
    names = page.locator(".match-card .match-name, .result-hero .accent").all_inner_texts()
    assert names and "Madonna" not in names and "Mindy Kaling" not in names

"""Several photos of one person on the upload page, in real Chromium: chosen, added, dropped, removed,
sent together in one form post, and the odd one named when they show different people."""

from __future__ import annotations

import base64
import re

import pytest

from browser.browser_support import PHONE, horizontal_overflow, run_axe, val_photo

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed").expect

ODD_ONE = ("Your second photo shows a different person from the other two. Please use photos of one person only: "
           "remove that photo or choose another one of you.")


def photo_parts(request) -> int:
    """How many `photo` files a multipart request carries."""
    return len(re.findall(rb'name="photo"; filename=', request.post_data_buffer or b""))


def test_two_photos_are_sent_together_in_one_post(page, server):
    page.goto(server + "/")
    page.set_input_files("#photo", [val_photo("madonna", 0), val_photo("madonna", 1)])  # both at once
    thumbs = page.locator(".photo-thumb")
    expect(thumbs).to_have_count(2)
    expect(thumbs.locator("img")).to_have_count(2)
    expect(page.locator("[data-photos-status]")).to_have_text("2 photos, matched together for a steadier answer.")
    expect(page.locator("[data-choose-text]")).to_have_text("Choose other photos")
    expect(page.locator("[data-add-label]")).to_be_visible()  # room for a third
    page.route("**/match", lambda route: route.continue_())  # so that the driver sees the body
    with page.expect_request(lambda r: r.method == "POST") as posted:
        page.click("[data-submit]")
    assert posted.value.url == server + "/match" and photo_parts(posted.value) == 2
    expect(page.locator("#result-heading")).to_have_text("You look most like Madonna")
    expect(page.locator("[data-certainty]")).to_contain_text("from your 2 photos")
    expect(page.locator("[data-picker-section]")).to_have_count(0)
    page.go_back()  # the form again, both photos still chosen
    expect(thumbs).to_have_count(2)
    assert page.eval_on_selector("#photo", "i => i.files.length") == 2


def test_different_people_are_named_and_the_photos_kept(page, server):
    page.goto(server + "/")
    page.set_input_files("#photo", val_photo("madonna", 0))
    page.set_input_files("#photo-more", val_photo("elton_john", 0))
    page.click("[data-submit]")
    message = page.locator("[data-error-message]")
    expect(message).to_have_text("These two photos show different people. Please use photos of one person only.")
    expect(page.locator(".photo-thumb.flagged")).to_have_count(0)  # neither is the odd one out
    page.set_input_files("#photo-more", val_photo("madonna", 1))  # a third: now one differs from two
    expect(page.locator("[data-error]")).to_be_hidden()
    expect(page.locator("[data-add-label]")).to_be_hidden()  # three is the most
    page.click("[data-submit]")
    expect(message).to_have_text(ODD_ONE)
    flagged = page.locator(".photo-thumb.flagged")
    expect(flagged).to_have_count(1)
    expect(flagged).to_contain_text("Photo 2")
    expect(flagged).to_contain_text("This one")
    assert run_axe(page) == []
    flagged.get_by_role("button", name="Remove photo 2").click()
    expect(page.locator(".photo-thumb")).to_have_count(2)
    expect(page.locator(".photo-thumb.flagged")).to_have_count(0)
    assert page.evaluate("document.activeElement.textContent") == "Remove photo 2"  # the next photo's button
    page.click("[data-submit]")
    expect(page.locator("#result-heading")).to_have_text("You look most like Madonna")
    expect(page.locator("[data-certainty]")).to_contain_text("from your 2 photos")


def drop(page, paths: list[str]) -> None:
    """Drop files on the photo slot as a drag from the desktop would."""
    files = []
    for path in paths:
        with open(path, "rb") as f:
            files.append(base64.b64encode(f.read()).decode("ascii"))
    page.evaluate("""(files) => {
        const dt = new DataTransfer();
        files.forEach((data, i) => dt.items.add(new File([Uint8Array.from(atob(data), (c) => c.charCodeAt(0))],
                                                         `dropped-${i}.jpg`, {type: "image/jpeg"})));
        const zone = document.querySelector("[data-dropzone]");
        zone.dispatchEvent(new DragEvent("dragover", {dataTransfer: dt, bubbles: true, cancelable: true}));
        zone.dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
    }""", files)


def test_dropped_photos_join_up_to_three(page, server):
    page.goto(server + "/")
    drop(page, [val_photo("jerry_seinfeld", 0), val_photo("jerry_seinfeld", 1)])
    expect(page.locator(".photo-thumb")).to_have_count(2)
    drop(page, [val_photo("jerry_seinfeld", 2), val_photo("jerry_seinfeld", 3)])
    expect(page.locator(".photo-thumb")).to_have_count(3)
    expect(page.locator("[data-error-message]")).to_have_text(
        "At most 3 photos are matched together, so only the first one was added.")
    drop(page, [val_photo("jerry_seinfeld", 4)])
    expect(page.locator("[data-error-message]")).to_have_text(
        "At most 3 photos are matched together: remove one to add another.")
    assert page.eval_on_selector("#photo", "i => Array.from(i.files, (f) => f.name)") == [
        "dropped-0.jpg", "dropped-1.jpg", "dropped-0.jpg"]
    page.get_by_role("button", name="Remove photo 1").click()
    assert page.eval_on_selector("#photo", "i => i.files.length") == 2
    page.click("[data-submit]")
    expect(page.locator("#result-heading")).to_have_text("You look most like Jerry Seinfeld")


def test_a_close_call_leads_back_to_the_form_to_add_a_photo(page, server):
    page.goto(server + "/")
    page.set_input_files("#photo", val_photo("mindy_kaling", 0))
    page.click("[data-submit]")
    certainty = page.locator("[data-certainty]")
    expect(certainty).to_contain_text("A close call")  # one photo is never called clear
    certainty.get_by_role("link", name="Add another photo").click()
    expect(page.locator("h1")).to_have_text("Which celebrity do you look like?")
    assert page.url == server + "/"
    expect(page.locator("[data-preview]")).to_be_visible()  # the photo chosen before is still there
    assert page.evaluate("document.activeElement.id") == "photo-more"
    page.set_input_files("#photo-more", val_photo("mindy_kaling", 1))
    page.click("[data-submit]")
    expect(page.locator("#result-heading")).to_have_text("You look most like Mindy Kaling")
    expect(certainty).to_contain_text("from your 2 photos")
    page.go_back()
    page.go_back()
    expect(page.locator("#result-heading")).to_be_visible()  # the first answer, one step further back


def test_several_photos_without_javascript(new_page, server):
    page = new_page(javascript=False)
    page.goto(server + "/?more=1")
    expect(page.locator("[data-adding]")).to_contain_text("choose 2 or 3 photos of yourself together")
    page.set_input_files("#photo", [val_photo("elton_john", 0), val_photo("elton_john", 1)])
    page.click("[data-submit]")
    expect(page.locator("#result-heading")).to_have_text("You look most like Elton John")
    expect(page.locator("[data-certainty]")).to_contain_text("from your 2 photos")
    page.goto(server + "/")
    page.set_input_files("#photo", [val_photo("elton_john", 0), val_photo("madonna", 0), val_photo("elton_john", 1)])
    page.click("[data-submit]")
    expect(page.locator("[data-error-message]")).to_have_text(ODD_ONE)


def test_phone_width_with_photos_and_the_error(new_page, server):
    page = new_page(viewport=PHONE, scale=2)
    page.goto(server + "/")
    page.set_input_files("#photo", [val_photo("madonna", 0), val_photo("elton_john", 0), val_photo("madonna", 1)])
    expect(page.locator(".photo-thumb")).to_have_count(3)
    assert horizontal_overflow(page) == 0
    boxes = page.eval_on_selector_all(".photo-thumb", "ts => ts.map(t => t.getBoundingClientRect().top)")
    assert len({round(top) for top in boxes}) == 1  # three in a row, even at 390 px
    for button in page.locator(".remove-button").all():
        assert button.bounding_box()["height"] >= 24  # a target a thumb can hit
    assert run_axe(page) == []
    page.click("[data-submit]")
    expect(page.locator("[data-error-message]")).to_have_text(ODD_ONE)
    assert horizontal_overflow(page) == 0
    assert run_axe(page) == []

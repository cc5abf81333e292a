"""The pages in real Chromium: upload to results, errors, the face picker, phone layouts, axe-core.

Every page runs under the Content-Security-Policy the app sends (no inline script, no eval), and
any script error, CSP violation or dialog (alert()) fails the test.
"""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image

from browser.browser_support import (
    NARROW,
    PHONE,
    PageWatch,
    horizontal_overflow,
    launch,
    run_axe,
    two_person_photo,
    val_photo,
    wait_until,
)

pytestmark = pytest.mark.browser

expect = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed").expect


def upload(page, server, photo, top_k=None):
    """Open the upload page, choose a photo and send it; returns once the results are shown."""
    page.goto(server + "/")
    page.set_input_files("#photo", photo)
    if top_k:
        page.click("summary")
        page.fill("#top_k", str(top_k))
    page.click("[data-submit]")
    expect(page.locator("#result-heading")).to_be_visible()


def test_upload_shows_progress_then_results(page, server):
    page.goto(server + "/")
    expect(page.locator("h1")).to_have_text("Which celebrity do you look like?")
    page.set_input_files("#photo", val_photo("mindy_kaling"))
    expect(page.locator("[data-preview]")).to_be_visible()
    page.click("[data-submit]")
    expect(page.locator("[data-submit]")).to_be_disabled()  # no second submit while it works
    expect(page.locator("[data-progress-label]")).to_have_text(re.compile("Uploading|Preparing|Finding"))
    heading = page.locator("#result-heading")
    expect(heading).to_have_text("You look most like Mindy Kaling")
    expect(heading).to_be_focused()  # screen readers land on the answer
    assert page.locator("h1").count() == 1
    assert page.url.endswith("/match")
    assert page.title().startswith("You look like Mindy Kaling")
    for img in ("[data-you-img]", "[data-them-img]"):  # both faces load
        wait_until(page, "s => { const i = document.querySelector(s); return i.complete && i.naturalWidth > 0; }",
                   img)
    expect(page.locator(".result-hero .explainer")).to_contain_text("Resemblance")
    score = page.locator(".result-hero .score-value").inner_text()
    assert re.fullmatch(r"\d{1,3}%", score)
    expect(page.locator(".match-card")).to_have_count(4)
    expect(page.locator(".match-card img")).to_have_count(4)
    # The share picture is made in the browser: a 1200 x 630 PNG to download (or share).
    share = page.locator("[data-share-section]")
    expect(share).to_be_visible()
    assert page.eval_on_selector("[data-share-preview]", "i => i.naturalWidth") == 1200
    assert page.get_attribute("[data-download]", "href").startswith("blob:")
    with page.expect_download() as info:
        page.click("[data-download]")
    assert info.value.suggested_filename == "lookslike-mindy-kaling.png"
    # Back returns to the form with the photo still chosen; forward to the results.
    page.go_back()
    expect(page.locator("[data-preview]")).to_be_visible()
    assert page.eval_on_selector("#photo", "i => i.files.length") == 1
    page.go_forward()
    expect(page.locator("#result-heading")).to_be_visible()
    # The celebrity's own page: linkable, shareable (Open Graph), no visitor photo on it.
    page.click(".result-hero figcaption a")
    expect(page.locator("h1")).to_have_text("Mindy Kaling")
    assert page.url == server + "/celebrity/mindy_kaling"
    assert page.locator(".photo-grid img").count() >= 5
    assert page.locator("img[src^='data:']").count() == 0
    og = {p: page.get_attribute(f"meta[property='og:{p}']", "content") for p in ("title", "url", "image")}
    assert og["title"] == "Do you look like Mindy Kaling?" and og["url"].endswith("/celebrity/mindy_kaling")
    assert "/gallery/demo/" in og["image"]
    assert page.get_attribute("link[rel=icon]", "href").endswith("favicon.svg")
    # /match opened as a page (a reload, a shared link) lands on the upload page.
    page.goto(server + "/match")
    expect(page.locator("h1")).to_have_text("Which celebrity do you look like?")
    assert page.url == server + "/"


def csp_directives(header: str) -> dict[str, list[str]]:
    """A Content-Security-Policy header as {directive: [sources]}."""
    parts = (d.split() for d in header.split(";") if d.strip())
    return {p[0]: p[1:] for p in parts}


def test_pages_send_the_strict_csp(page, server):
    pages = {"/": page.goto(server + "/"), "/verify": page.goto(server + "/verify"),
             "celebrity": page.goto(server + "/celebrity/madonna")}
    page.goto(server + "/")
    page.set_input_files("#photo", val_photo("madonna"))
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.click("[data-submit]")
    pages["results"] = posted.value
    for name, response in pages.items():
        csp = csp_directives(response.headers["content-security-policy"])
        assert csp["script-src"] == ["'self'", "'wasm-unsafe-eval'"], name  # no inline script, no eval
        assert {"data:", "blob:"} <= set(csp["img-src"]), name  # face crops, previews, share picture
        assert csp["connect-src"] == ["'self'"], name  # the script posts to this site only
        assert csp["object-src"] == ["'none'"] and csp["frame-ancestors"] == ["'none'"], name
    assert page.locator("script:not([src])").count() == 0


def test_error_is_inline_and_keeps_the_photo(page, server):
    sent = []
    page.on("request", lambda r: sent.append(r.url) if r.method == "POST" else None)
    page.goto(server + "/")
    # Checked before sending: not a photo.
    page.set_input_files("#photo", {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"})
    expect(page.locator("[data-error-message]")).to_contain_text("is not a photo")
    assert not sent
    # Nothing chosen: an inline message, not the browser's bubble.
    page.click("[data-submit]")
    expect(page.locator("[data-error-message]")).to_have_text("Please choose a photo first.")
    # The server's refusal (no face) shows inline and the chosen photo stays.
    grey = io.BytesIO()
    Image.new("RGB", (320, 240), (128, 128, 128)).save(grey, "PNG")
    page.set_input_files("#photo", {"name": "wall.png", "mimeType": "image/png", "buffer": grey.getvalue()})
    expect(page.locator("[data-error]")).to_be_hidden()
    page.click("[data-submit]")
    expect(page.locator("[data-error-message]")).to_contain_text("No face was found")
    assert sent == [server + "/match"]
    expect(page.locator("[data-preview]")).to_be_visible()
    assert page.eval_on_selector("#photo", "i => i.files.length && i.files[0].name") == "wall.png"
    expect(page.locator("[data-submit]")).to_be_enabled()
    # Try again with a face: the error goes away and the results come.
    page.set_input_files("#photo", val_photo("elton_john"))
    page.click("[data-submit]")
    expect(page.locator("#result-heading")).to_have_text("You look most like Elton John")


def big_rotated_jpeg(path: str, min_bytes: int) -> bytes:
    """A photo enlarged to ~4000 px with sensor-like noise (a large file), its pixels stored turned
    90 degrees with EXIF orientation 6 to show it upright, as phones save portraits."""
    import numpy as np

    img = Image.open(path).convert("RGB")
    scale = 4000 / max(img.size)
    img = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.BICUBIC)
    noise = np.random.default_rng(0).integers(-32, 33, (img.height, img.width, 3), dtype=np.int16)
    img = Image.fromarray(np.clip(np.asarray(img, np.int16) + noise, 0, 255).astype(np.uint8))
    stored = img.transpose(Image.Transpose.ROTATE_90)  # shown upright after a 90 degree clockwise turn
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    stored.save(buf, "JPEG", quality=95, subsampling=0, exif=exif.tobytes())
    data = buf.getvalue()
    assert len(data) > min_bytes, len(data)
    return data


def test_large_photo_is_shrunk_upright_before_upload(page, server, tmp_path):
    limit = 10 * 1024 * 1024
    data = big_rotated_jpeg(val_photo("ben_afflek"), limit)  # over the server's upload limit
    photo = tmp_path / "IMG_0001.jpg"
    photo.write_bytes(data)  # a path, not a buffer: Playwright passes it to Chromium as is
    page.goto(server + "/")
    assert int(page.get_attribute("#match-form", "data-max-bytes")) == limit
    assert int(page.get_attribute("#match-form", "data-max-side")) == 1024
    page.set_input_files("#photo", str(photo))
    # Intercepted (and passed on unchanged) so that the driver sees the body: Chromium does not
    # report a body built from a Blob otherwise.
    page.route("**/match", lambda route: route.continue_())
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/match")) as req:
        page.click("[data-submit]")
    sent = len(req.value.post_data_buffer)
    assert sent < 1_000_000, f"{sent} bytes sent for a {len(data)}-byte photo"
    expect(page.locator("#result-heading")).to_have_text("You look most like Ben Affleck")
    width, height = (int(page.get_attribute("[data-results]", f"data-photo-{k}")) for k in ("width", "height"))
    assert max(width, height) <= 1024 and height > width  # upright portrait, at most 1024 px


def test_face_picker_on_a_two_person_photo(page, server, tmp_path):
    upload(page, server, two_person_photo(tmp_path / "two.jpg"))
    picker = page.locator("[data-picker-section]")
    expect(picker).to_contain_text("We found 2 faces")
    expect(picker).to_contain_text("nearest the middle")
    boxes = picker.locator("button.face-box")
    expect(boxes).to_have_count(2)
    expect(picker.locator("img")).to_have_attribute("alt", re.compile("2 faces"))
    chosen = int(page.get_attribute("[data-results]", "data-face-index"))
    other = 1 - chosen
    expect(boxes.nth(chosen)).to_have_attribute("aria-pressed", "true")
    before = page.get_attribute("[data-you-img]", "src")
    first_heading = page.locator("#result-heading").inner_text()
    # Keyboard only: focus the other face and press Enter.
    boxes.nth(other).focus()
    page.keyboard.press("Enter")
    expect(page.locator("[data-picker-section]")).to_contain_text("the face you picked")
    assert int(page.get_attribute("[data-results]", "data-face-index")) == other
    expect(page.locator("button.face-box").nth(other)).to_have_attribute("aria-pressed", "true")
    assert page.get_attribute("[data-you-img]", "src") != before
    # The two halves are Jerry Seinfeld's and Mindy Kaling's photos: each face finds its own person.
    names = {"You look most like Jerry Seinfeld", "You look most like Mindy Kaling"}
    assert page.locator("#result-heading").inner_text().strip() in names
    assert first_heading.strip() in names and first_heading != page.locator("#result-heading").inner_text()


def test_keyboard_alone_reaches_every_control(page, server):
    # Playwright turns on Chromium's file-chooser interception when the first "filechooser"
    # listener is added, without waiting for it; a key pressed straight after could open the
    # chooser before interception was on (the event then never came: a CI flake). Listening
    # from the start has interception on long before the key.
    page.on("filechooser", lambda _: None)
    page.goto(server + "/")
    order = []
    for _ in range(8):
        page.keyboard.press("Tab")
        order.append(page.evaluate("""() => { const e = document.activeElement;
            return e.id || e.getAttribute('data-camera-start') !== null && 'camera'
                || e.textContent.trim().slice(0, 20); }"""))
        if order[-1] == "photo":
            break
    assert order[0] == "Skip to content" and order[-1] == "photo", order
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Space")
    chooser.value.set_files(val_photo("madonna"))
    expect(page.locator("[data-preview]")).to_be_visible()
    page.keyboard.press("Tab")  # a second photo of the same person, for a steadier answer
    assert page.evaluate("document.activeElement.id") == "photo-more"
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Space")
    chooser.value.set_files(val_photo("madonna", 1))
    expect(page.locator(".photo-thumb")).to_have_count(2)
    assert page.evaluate("document.activeElement.id") == "photo-more"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.hasAttribute('data-camera-start')")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.tagName") == "SUMMARY"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.hasAttribute('data-submit')")
    page.keyboard.press("Enter")
    expect(page.locator("#result-heading")).to_have_text("You look most like Madonna")
    expect(page.locator("[data-certainty]")).to_contain_text("from your 2 photos")


def test_webcam_preview_is_mirrored_and_takes_up_to_three_photos(playwright_driver, server):
    browser = launch(playwright_driver, ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"])
    try:
        ctx = browser.new_context(viewport=PHONE)
        page = ctx.new_page()
        watch = PageWatch()
        watch.attach(page)
        page.goto(server + "/")
        page.click("[data-camera-start]")
        video = page.locator("[data-camera-video]")
        expect(video).to_be_visible()
        assert page.eval_on_selector("[data-camera-video]", "v => getComputedStyle(v).transform") \
            .startswith("matrix(-1, 0, 0, 1")
        wait_until(page, "() => document.querySelector('[data-camera-video]').videoWidth > 0")
        page.click("[data-camera-snap]")
        expect(video).to_be_hidden()
        expect(page.locator("[data-preview]")).to_be_visible()
        assert page.eval_on_selector("#photo", "i => i.files[0].name") == "camera.jpg"
        start = page.locator("[data-camera-start]")
        expect(start).to_have_text("Take another photo")
        page.click("[data-camera-start]")
        expect(video).to_be_visible()
        page.click("[data-camera-cancel]")
        expect(video).to_be_hidden()
        for count in (2, 3):  # each picture joins the others, up to 3
            page.click("[data-camera-start]")
            wait_until(page, "() => document.querySelector('[data-camera-video]').videoWidth > 0")
            page.click("[data-camera-snap]")
            expect(page.locator(".photo-thumb")).to_have_count(count)
        assert page.eval_on_selector("#photo", "i => Array.from(i.files, (f) => f.name)") == ["camera.jpg"] * 3
        expect(start).to_be_hidden()
        expect(page.locator("[data-add-label]")).to_be_hidden()
        expect(page.locator("[data-photos-status]")).to_have_text("3 photos, matched together: the most there can be.")
        page.get_by_role("button", name="Remove photo 2").click()
        expect(page.locator(".photo-thumb")).to_have_count(2)
        expect(start).to_be_visible()
        expect(page.locator("[data-photos-status]")).to_contain_text("Photo 2 removed.")
        watch.check()
    finally:
        browser.close()


def test_webcam_failure_is_an_inline_message(page, server):
    page.goto(server + "/")
    page.evaluate("""() => { navigator.mediaDevices.getUserMedia = () =>
        Promise.reject(new DOMException('denied', 'NotAllowedError')); }""")
    page.click("[data-camera-start]")
    expect(page.locator("[data-error-message]")).to_contain_text("Camera access is blocked")


def test_verify_in_plain_words(page, server):
    page.goto(server + "/verify")
    assert page.locator("h1").count() == 1
    page.set_input_files("#photo1", val_photo("jerry_seinfeld", 0))
    page.set_input_files("#photo2", val_photo("jerry_seinfeld", 1))
    expect(page.locator("#verify-form [data-preview]")).to_have_count(2)
    page.click("[data-submit]")
    verdict = page.locator("#verdict-heading")
    expect(verdict).to_have_text(re.compile(r"^(Very likely|Probably) the same person \((>99|\d{1,2})%\)$"))
    assert page.locator("h1").count() == 1
    expect(page.locator(".verdict-panel img")).to_have_count(2)
    details = page.locator("details.tech")
    expect(details.locator("dd").first).to_be_hidden()
    details.locator("summary").click()
    expect(details).to_contain_text("Distance between the face embeddings")
    assert "threshold" not in page.locator(".verdict-panel .explainer").inner_text()


def test_pages_work_without_javascript(new_page, server):
    page = new_page(javascript=False)
    page.goto(server + "/")
    expect(page.locator("#photo")).to_be_visible()  # the plain file input
    page.set_input_files("#photo", val_photo("mindy_kaling", 1))
    page.click("[data-submit]")
    expect(page.locator("#result-heading")).to_have_text("You look most like Mindy Kaling")
    expect(page.locator(".match-card")).to_have_count(4)
    expect(page.locator("[data-share-section]")).to_be_hidden()


def assert_sharp(page, selector: str, scale: int) -> None:
    """Every image matched has at least `scale` device pixels per CSS pixel it is shown at."""
    wait_until(page, "() => [...document.images].every(i => i.complete)")
    sizes = page.eval_on_selector_all(
        selector, "is => is.map(i => [i.naturalWidth, i.getBoundingClientRect().width, i.alt])")
    assert sizes, selector
    for natural, shown, alt in sizes:
        assert natural >= scale * shown - 1, \
            f"{alt}: {natural} px shown at {shown:.0f} CSS px (gallery thumbnails older than THUMB_SIZE? rebuild it)"


def test_phone_layout_two_columns_and_sharp_images(new_page, server):
    page = new_page(viewport=PHONE, scale=2)
    upload(page, server, val_photo("madonna"))
    assert horizontal_overflow(page) == 0
    lefts = page.eval_on_selector_all(".match-card", "cs => cs.map(c => Math.round(c.getBoundingClientRect().left))")
    assert len(set(lefts)) == 2, lefts  # two columns
    assert_sharp(page, ".result-hero img, .match-card img", 2)
    page.goto(server + "/celebrity/madonna")
    assert_sharp(page, "main img", 2)


def test_desktop_2x_images_are_sharp(new_page, server):
    page = new_page(scale=2)  # a laptop's retina screen: the results' faces are largest here
    upload(page, server, val_photo("jerry_seinfeld", 2))
    assert_sharp(page, ".result-hero img, .match-card img", 2)
    page.goto(server + "/celebrity/jerry_seinfeld")
    assert_sharp(page, "main img", 2)


def test_no_horizontal_overflow_at_360px(new_page, server):
    page = new_page(viewport=NARROW, scale=2)
    wide = {}

    def check(name):
        page.wait_for_load_state("load")
        wide[name] = horizontal_overflow(page)

    for path in ("/", "/verify", "/celebrity/elton_john"):
        page.goto(server + path)
        check(path)
    page.goto(server + "/")
    page.set_input_files("#photo", {"name": "x.txt", "mimeType": "text/plain", "buffer": b"x"})
    expect(page.locator("[data-error]")).to_be_visible()
    check("/ (error)")
    upload(page, server, val_photo("elton_john", 1))
    check("results")
    page.goto(server + "/verify")
    page.set_input_files("#photo1", val_photo("madonna", 0))
    page.set_input_files("#photo2", val_photo("elton_john", 0))
    page.click("[data-submit]")
    expect(page.locator("#verdict-heading")).to_contain_text("different people")
    check("/verify (result)")
    assert not any(wide.values()), f"pixels wider than the 360 px screen: {wide}"


def test_axe_no_serious_violations(page, server, tmp_path):
    found = {}
    page.goto(server + "/")
    found["/"] = run_axe(page)
    page.set_input_files("#photo", {"name": "x.txt", "mimeType": "text/plain", "buffer": b"x"})
    found["/ (error)"] = run_axe(page)
    upload(page, server, two_person_photo(tmp_path / "two.jpg"))  # the results with the face picker
    expect(page.locator("button.face-box")).to_have_count(2)
    found["results"] = run_axe(page)
    page.goto(server + "/celebrity/madonna")
    found["celebrity"] = run_axe(page)
    page.goto(server + "/verify")
    found["/verify"] = run_axe(page)
    page.set_input_files("#photo1", val_photo("madonna", 0))
    page.set_input_files("#photo2", val_photo("madonna", 1))
    page.click("[data-submit]")
    expect(page.locator("#verdict-heading")).to_be_visible()
    found["/verify (result)"] = run_axe(page)
    problems = {k: v for k, v in found.items() if v}
    assert not problems, problems

"""Private mode in real Chromium: the face is found and embedded in the page; only the embedding leaves it.

The parity checks compare the page's embedding of a file with the server's embedding of the same
file (tests/browser/server_side.py, run with the app's interpreter): cosine, main face, top-1.
"""

from __future__ import annotations

import base64
import glob
import json
import os
import re
import statistics
import subprocess

import pytest

from browser.browser_support import (
    DESKTOP,
    PHONE,
    ROOT,
    PageWatch,
    app_python,
    launch,
    run_axe,
    two_person_photo,
    val_photo,
    wait_until,
)

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed").expect

DEMO_VAL = os.path.join(ROOT, "instance", "datasets", "5-celebrity-faces", "val")
LFW = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "lfw", "images"))
REPORTS = os.path.join(ROOT, "reports")
READY_S = 240  # first download and start of the networks on a busy CI machine


def wait_ready(page) -> None:
    """Open state of private mode: the networks downloaded, checked and started."""
    expect(page.locator("[data-private-status]")).to_have_text(re.compile("^Ready"), timeout=READY_S * 1000)


def open_private(page, server: str) -> None:
    page.goto(server + "/")
    expect(page.locator("[data-private-box]")).to_be_visible()
    wait_ready(page)


def match_a_fake_camera_shot(page) -> None:
    """Start the webcam, take a shot and match it: Chromium's fake camera shows a test pattern, in which
    the page itself finds no face."""
    page.click("[data-camera-start]")
    expect(page.locator("[data-camera-video]")).to_be_visible()
    wait_until(page, "() => document.querySelector('[data-camera-video]').videoWidth > 0")
    page.click("[data-camera-snap]")
    expect(page.locator("[data-preview]")).to_be_visible()
    page.click("[data-submit]")
    expect(page.locator("[data-error-message]")).to_contain_text("No face was found")


def record(page) -> list:
    """Every request the page makes, as it is made: (method, url, body bytes)."""
    sent = []
    page.on("request", lambda r: sent.append((r.method, r.url, r.post_data_buffer or b"")))
    return sent


def test_private_mode_is_the_default_and_says_so(page, private_server):
    page.goto(private_server + "/")
    box = page.locator("[data-private-box]")
    expect(box).to_contain_text("Private: your photo stays on this device")
    assert page.is_checked("[data-private-toggle]")
    expect(page.locator("[data-fineprint-text]")).to_contain_text("Your photo stays on this device")
    wait_ready(page)
    expect(page.locator("[data-private-progress]")).to_be_hidden()
    page.uncheck("[data-private-toggle]")
    expect(page.locator("[data-private-status]")).to_contain_text("sent to this server")
    expect(page.locator("[data-fineprint-text]")).to_have_text("Your photo is analysed in memory and never stored.")
    assert run_axe(page) == []


def test_only_the_embedding_leaves_the_page(page, private_server):
    open_private(page, private_server)
    sent = record(page)
    path = val_photo("mindy_kaling")
    with open(path, "rb") as f:
        photo = f.read()
    page.set_input_files("#photo", path)
    page.click("[data-submit]")
    expect(page.locator("#result-heading")).to_have_text("You look most like Mindy Kaling")
    posts = [(url, body) for method, url, body in sent if method != "GET"]
    assert [url for url, _ in posts] == [private_server + "/match/embedding"]
    body = json.loads(posts[0][1])
    assert set(body) == {"embedding", "embedding_model", "top_k"} and len(body["embedding"]) == 128
    assert len(posts[0][1]) < 4096
    for _, url, data in sent:  # no request carries any part of the photo, and none goes elsewhere
        assert url.startswith(private_server) or url.startswith("blob:") or url.startswith("data:"), url
        assert photo[:64] not in data and photo[-64:] not in data and b"\xff\xd8\xff" not in data
    assert page.get_attribute("[data-you-img]", "src").startswith("blob:")  # the crop made here
    expect(page.locator(".about")).to_contain_text("never left your device")


def test_face_picker_without_upload(page, private_server, tmp_path):
    open_private(page, private_server)
    sent = record(page)
    page.set_input_files("#photo", two_person_photo(tmp_path / "two.jpg"))
    page.click("[data-submit]")
    picker = page.locator("[data-picker-section]")
    expect(picker).to_contain_text("We found 2 faces")
    expect(picker).to_contain_text("nearest the middle")
    boxes = picker.locator("button.face-box")
    expect(boxes).to_have_count(2)
    first = page.locator("#result-heading").inner_text()
    chosen = [i for i in range(2) if boxes.nth(i).get_attribute("aria-pressed") == "true"]
    assert len(chosen) == 1
    boxes.nth(1 - chosen[0]).click()
    expect(page.locator("[data-picker-section]")).to_contain_text("the face you picked")
    expect(page.locator("button.face-box").nth(1 - chosen[0])).to_have_attribute("aria-pressed", "true")
    names = {"You look most like Jerry Seinfeld", "You look most like Mindy Kaling"}
    second = page.locator("#result-heading").inner_text()
    assert {first.strip(), second.strip()} == names
    assert [url for method, url, _ in sent if method != "GET"] == [private_server + "/match/embedding"] * 2


def test_webcam_photo_stays_on_the_device(playwright_driver, private_server):
    browser = launch(playwright_driver, ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"])
    try:
        page = browser.new_context(viewport=PHONE).new_page()
        watch = PageWatch()
        watch.attach(page)
        open_private(page, private_server)
        sent = record(page)
        match_a_fake_camera_shot(page)
        assert [u for m, u, _ in sent if m != "GET"] == []
        watch.check()
    finally:
        browser.close()


def test_a_corrupted_network_falls_back_to_upload(page, private_server):
    def corrupt(route):
        response = route.fetch()
        body = bytearray(response.body())
        body[len(body) // 2] ^= 0xFF
        route.fulfill(response=response, body=bytes(body))

    page.route(re.compile(r".*/assets/rnet-.*"), corrupt)
    page.goto(private_server + "/")
    status = page.locator("[data-private-status]")
    expect(status).to_contain_text("did not arrive intact", timeout=READY_S * 1000)
    expect(status).to_contain_text("sent to this server instead")
    assert page.is_disabled("[data-private-toggle]") and not page.is_checked("[data-private-toggle]")
    sent = record(page)
    page.set_input_files("#photo", val_photo("madonna"))
    page.click("[data-submit]")
    expect(page.locator("#result-heading")).to_have_text("You look most like Madonna")
    assert private_server + "/match" in [url for method, url, _ in sent if method == "POST"]


def test_a_browser_without_simd_uploads(new_page, private_server):
    page = new_page()
    page.add_init_script("WebAssembly.validate = () => false;")
    page.goto(private_server + "/")
    expect(page.locator("[data-private-status]")).to_contain_text("lacks WebAssembly SIMD")
    assert page.is_disabled("[data-private-toggle]")
    assert not page.evaluate("window.LooksLikePrivate.wanted(document.getElementById('match-form'))")


def test_a_second_visit_downloads_nothing(browser, private_server):
    ctx = browser.new_context(viewport=DESKTOP)
    try:
        page = ctx.new_page()
        open_private(page, private_server)
        fetched = []
        page.on("request", lambda r: fetched.append(r.url) if re.search(r"\.(onnx|wasm)$", r.url) else None)
        page.reload()
        wait_ready(page)
        assert fetched == []
    finally:
        ctx.close()


def browser_analyses(page, paths: list[str]) -> list[dict]:
    """The page's own analysis (embedding, main face box) of each file, or its error code."""
    out = []
    for path in paths:
        with open(path, "rb") as f:
            data = base64.b64encode(f.read()).decode("ascii")
        out.append(page.evaluate("""async ([data, name]) => {
            const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
            try { return await window.LooksLikePrivate.analyze(new File([bytes], name, {type: "image/jpeg"})); }
            catch (err) { return {error: err.code || String(err)}; } }""", [data, os.path.basename(path)]))
    return out


def server_side(photos: list[dict]) -> list[dict]:
    """The server's main face, embedding cosine and top-1 for the same files (the app's interpreter)."""
    done = subprocess.run([app_python(), os.path.join(ROOT, "tests", "browser", "server_side.py")], cwd=ROOT,
                          input=json.dumps({"gallery": "demo", "photos": photos}), capture_output=True, text=True,
                          timeout=1800, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT))
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def check_parity(page, server: str, paths: list[str], name: str) -> dict:
    """Compare browser and server on `paths`; the figures, also written to reports/private_parity_<name>.json."""
    open_private(page, server)
    mine = browser_analyses(page, paths)
    theirs = server_side([{"path": p, "embedding": m.get("embedding")} for p, m in zip(paths, mine)])
    cosines, named, faces, tops, errors = [], [], 0, 0, []
    for path, browser, reference in zip(paths, mine, theirs):
        if "error" in reference or "error" in browser:
            errors.append((os.path.basename(path), browser.get("error"), reference.get("error")))
            continue
        cosines.append(reference["cosine"])
        named.append((round(reference["cosine"], 6), os.path.basename(path)))
        faces += max(abs(a - b) for a, b in zip(browser["box"], reference["box"])) <= 1
        tops += reference["top1_browser"] == reference["top1"]
    figures = {"photos": len(paths), "compared": len(cosines), "min_cosine": min(cosines), "lowest": sorted(named)[:5],
               "median_cosine": statistics.median(cosines), "same_main_face": faces, "same_top1": tops,
               "errors": errors}
    os.makedirs(REPORTS, exist_ok=True)
    with open(os.path.join(REPORTS, f"private_parity_{name}.json"), "w", encoding="utf-8") as f:
        json.dump(figures, f, indent=2)
    print(f"\nprivate-mode parity, {name}: {json.dumps(figures)}")
    assert all(b == r for _, b, r in errors), errors  # an error on one side only is a mismatch
    assert figures["min_cosine"] >= 0.995, figures
    assert faces == len(cosines) and tops >= 0.98 * len(cosines), figures
    return figures


def test_parity_on_the_demo_val_photos(page, private_server):
    paths = sorted(glob.glob(os.path.join(DEMO_VAL, "*", "*")))
    assert len(paths) == 25
    figures = check_parity(page, private_server, paths, "demo_val")
    assert figures["compared"] == 25 and figures["same_top1"] == 25


@pytest.mark.slow
def test_parity_on_lfw_photos(page, private_server):
    paths = sorted(glob.glob(os.path.join(LFW, "*", "*.jpg")))
    if len(paths) < 200:
        pytest.skip(f"needs ../shared/data/lfw: {LFW} has {len(paths)} photos")
    step = len(paths) // 240
    check_parity(page, private_server, paths[::step][:240], "lfw")

"""Private mode on threads (PRIVATE_THREADS) and WebGPU (PRIVATE_WEBGPU) in real Chromium.

With threads the server sends the cross-origin isolation headers; the page must then be isolated,
run ONNX Runtime on more than one thread, give the one-thread embedding, and still load everything
it shows (thumbnails, crops, the webcam) and accept form posts from other sites.
"""

from __future__ import annotations

import base64
import re

import numpy as np
import pytest

from browser.browser_support import PHONE, PageWatch, launch, val_photo, wait_until
from browser.test_private import match_a_fake_camera_shot

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed").expect

READY_S = 240  # first download and start of the networks on a busy CI machine
PHOTO = ("jerry_seinfeld", 1)
OTHER_SITE = "http://other-site.example/"


def open_private(page, server: str) -> None:
    page.goto(server + "/")
    expect(page.locator("[data-private-status]")).to_have_text(re.compile("^Ready"), timeout=READY_S * 1000)


def embedding(page, path: str) -> np.ndarray:
    """The page's own embedding of a file (window.LooksLikePrivate.analyze)."""
    with open(path, "rb") as f:
        data = base64.b64encode(f.read()).decode("ascii")
    found = page.evaluate("""async (data) => {
        const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
        return (await window.LooksLikePrivate.analyze(new File([bytes], "x.jpg", {type: "image/jpeg"}))).embedding;
    }""", data)
    return np.asarray(found, dtype=np.float64)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def images_loaded(page) -> None:
    """Every image on the page has arrived (a response blocked by COEP or CORP never does)."""
    shown = "[...document.images].filter((img) => img.getAttribute('src'))"  # not the placeholders without one
    wait_until(page, f"() => {shown}.every((img) => img.complete)", timeout=30)
    assert page.evaluate(f"() => {shown}.length") >= 5
    assert page.evaluate(f"() => {shown}.filter((img) => !img.naturalWidth).map((img) => img.src)") == []


def test_threads_give_the_one_thread_embedding(new_page, private_server, threads_server):
    one, many = new_page(), new_page()
    open_private(one, private_server)
    open_private(many, threads_server)
    assert one.evaluate("crossOriginIsolated") is False and many.evaluate("crossOriginIsolated") is True
    assert one.evaluate("window.LooksLikePrivate.runtime") == {"backend": "wasm", "threads": 1}
    cores = many.evaluate("navigator.hardwareConcurrency")
    if cores < 2:
        pytest.skip(f"Chromium reports {cores} core: no second thread to run")
    # "auto": the cores, at most 4; no WebGPU adapter in this Chromium, so WebAssembly.
    assert many.evaluate("window.LooksLikePrivate.runtime") == {"backend": "wasm", "threads": min(cores, 4)}
    assert len(many.workers) >= 1  # ONNX Runtime's thread pool: Web Workers beside the page
    path = val_photo(*PHOTO)
    assert cosine(embedding(one, path), embedding(many, path)) >= 0.9999


def test_an_isolated_page_shows_every_match(page, threads_server):
    open_private(page, threads_server)
    page.set_input_files("#photo", val_photo(*PHOTO))
    page.click("[data-submit]")
    expect(page.locator("#result-heading")).to_have_text("You look most like Jerry Seinfeld")
    assert page.get_attribute("[data-you-img]", "src").startswith("blob:")  # the crop made here
    images_loaded(page)
    page.goto(threads_server + "/")  # the upload fallback, on the same isolated pages
    page.uncheck("[data-private-toggle]")
    page.set_input_files("#photo", val_photo("madonna"))
    page.click("[data-submit]")
    expect(page.locator("#result-heading")).to_have_text("You look most like Madonna")
    images_loaded(page)


def test_a_form_posted_from_another_site_gets_its_results(page, threads_server):
    form = (f'<!doctype html><title>Elsewhere</title><form method="post" action="{threads_server}/match" '
            'enctype="multipart/form-data"><input type="file" name="photo" id="photo">'
            '<button id="go">Find</button></form>')
    page.route(OTHER_SITE, lambda route: route.fulfill(body=form, content_type="text/html"))
    page.goto(OTHER_SITE)
    page.set_input_files("#photo", val_photo("madonna"))
    page.click("#go")
    expect(page.locator("#result-heading")).to_have_text("You look most like Madonna")
    assert page.evaluate("crossOriginIsolated") is True
    images_loaded(page)


def test_without_the_headers_the_page_runs_on_one_thread(page, threads_server):
    def strip(route):  # a proxy that drops the isolation headers from the page
        response = route.fetch()
        headers = {k: v for k, v in response.headers.items() if not k.lower().startswith("cross-origin-")}
        route.fulfill(response=response, headers=headers)

    page.route(threads_server + "/", strip)
    open_private(page, threads_server)
    assert page.evaluate("crossOriginIsolated") is False
    assert page.evaluate("window.LooksLikePrivate.runtime") == {"backend": "wasm", "threads": 1}
    page.set_input_files("#photo", val_photo(*PHOTO))
    page.click("[data-submit]")
    expect(page.locator("#result-heading")).to_have_text("You look most like Jerry Seinfeld")


def test_the_webcam_works_on_an_isolated_page(playwright_driver, threads_server):
    browser = launch(playwright_driver, ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"])
    try:
        page = browser.new_context(viewport=PHONE).new_page()
        watch = PageWatch()
        watch.attach(page)
        open_private(page, threads_server)
        match_a_fake_camera_shot(page)
        watch.check()
    finally:
        browser.close()


@pytest.mark.slow
def test_webgpu_where_chromium_offers_an_adapter(playwright_driver, private_server, threads_server):
    """WebGPU: headless Chromium offers an adapter only with --enable-unsafe-webgpu, and here only
    SwiftShader's (a GPU emulated on the CPU, minutes per match): the page must still get the
    WebAssembly embedding."""
    browser = launch(playwright_driver, ["--enable-unsafe-webgpu"])
    try:
        ctx = browser.new_context()
        ctx.set_default_timeout(READY_S * 1000)
        page = ctx.new_page()
        page.goto(threads_server + "/")
        if not page.evaluate("async () => !!(navigator.gpu && await navigator.gpu.requestAdapter())"):
            pytest.skip("this Chromium offers no WebGPU adapter, even with --enable-unsafe-webgpu")
        watch = PageWatch()
        watch.attach(page)
        open_private(page, threads_server)
        assert page.evaluate("window.LooksLikePrivate.runtime.backend") == "webgpu"
        wasm = ctx.new_page()
        open_private(wasm, private_server)
        path = val_photo(*PHOTO)
        assert cosine(embedding(wasm, path), embedding(page, path)) >= 0.9999
        watch.check()
    finally:
        browser.close()

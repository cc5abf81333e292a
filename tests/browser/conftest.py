"""Browser tests: a real gunicorn server on a free port and Debian's Chromium driven by Playwright.

Run with `make test-browser` (installs Chromium, Playwright and axe-core when missing). The server
runs the app's own interpreter (.venv, or LOOKSLIKE_APP_PYTHON); Playwright may live in another
environment (the Makefile's .venv-browser).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request

import pytest

from browser.browser_support import DESKTOP, ROOT, PageWatch, app_python, launch


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(tmp_path_factory, name: str, env: dict[str, str]):
    """Base URL of the app served by gunicorn (the real weights and demo gallery) with `env`, ready;
    stopped when the generator closes. LOOKSLIKE_TEST_SERVER=http://127.0.0.1:PORT uses a server
    already running instead."""
    if os.environ.get("LOOKSLIKE_TEST_SERVER"):
        yield os.environ["LOOKSLIKE_TEST_SERVER"].rstrip("/")
        return
    for need, fix in (("instance/weights/facenet_keras.weights.h5", "make weights"),
                      ("instance/galleries/demo/manifest.json", "make gallery")):
        if not os.path.exists(os.path.join(ROOT, need)):
            pytest.fail(f"{need} is missing: run `{fix}` (or `make test-browser`)")
    port = free_port()
    log_path = tmp_path_factory.mktemp(name) / "gunicorn.log"
    # The demo gallery whatever else is built (the checks name its celebrities and thumbnail size).
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", WEB_CONCURRENCY="1", LOOKSLIKE_GALLERY="demo", **env)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([app_python(), "-m", "gunicorn", "--config", "gunicorn.conf.py",
                                 "--bind", f"127.0.0.1:{port}", "wsgi:app"],
                                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the server exited ({proc.returncode}):\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(base + "/readyz", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the server was not ready in 180 s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """The app with private mode off: the upload path, which stays the fallback (and serves form posts)."""
    yield from serve(tmp_path_factory, "server", {"LOOKSLIKE_PRIVATE_MODE": "false"})


@pytest.fixture(scope="session")
def private_server(tmp_path_factory):
    """The app as configured by default: private mode on (its assets made by `make weights` and
    `make browser-runtime`, which `make test-browser` runs)."""
    yield from serve(tmp_path_factory, "private_server", {})


@pytest.fixture(scope="session")
def threads_server(tmp_path_factory):
    """Private mode on ONNX Runtime's threads (PRIVATE_THREADS=auto): the pages cross-origin isolated,
    with the JSEP build served too (PRIVATE_WEBGPU) for browsers that offer WebGPU."""
    yield from serve(tmp_path_factory, "threads_server", {"LOOKSLIKE_PRIVATE_THREADS": "auto",
                                                          "LOOKSLIKE_PRIVATE_WEBGPU": "true"})


@pytest.fixture(scope="session")
def playwright_driver():
    """Playwright, started once; assertions wait up to 30 s (a match takes seconds on a busy CI box)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (make test-browser)")
    sync_api.expect.set_options(timeout=30_000)
    with sync_api.sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright_driver):
    """One Chromium for the session."""
    b = launch(playwright_driver)
    yield b
    b.close()


@pytest.fixture()
def new_page(browser):
    """Factory of pages (viewport, JavaScript on or off) under the app's own headers (its CSP),
    checked after the test: no script error, CSP violation or dialog."""
    contexts, watches = [], []

    def make(viewport=DESKTOP, scale=1, javascript=True):
        ctx = browser.new_context(viewport=viewport, device_scale_factor=scale, java_script_enabled=javascript)
        ctx.set_default_timeout(30_000)
        contexts.append(ctx)
        page = ctx.new_page()
        watch = PageWatch()
        watch.attach(page)
        watches.append(watch)
        return page

    yield make
    for ctx in contexts:
        ctx.close()
    for watch in watches:
        watch.check()


@pytest.fixture()
def page(new_page):
    """A desktop page (1280 x 900)."""
    return new_page()

"""Constants and helpers of the browser tests (fixtures are in conftest.py beside this file)."""

from __future__ import annotations

import glob
import os
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO_VAL = os.path.join(ROOT, "instance", "datasets", "5-celebrity-faces", "val")
AXE = os.path.join(ROOT, "build", "npm", "node_modules", "axe-core", "axe.min.js")

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
NARROW = {"width": 360, "height": 740}


def app_python() -> str:
    """The interpreter that has the app's requirements (Flask, TensorFlow, gunicorn)."""
    if os.environ.get("LOOKSLIKE_APP_PYTHON"):
        return os.environ["LOOKSLIKE_APP_PYTHON"]
    venv = os.path.join(ROOT, ".venv", "bin", "python")
    return venv if os.path.exists(venv) else sys.executable


def val_photo(identity: str, index: int = 0) -> str:
    """A held-out demo photo of a celebrity."""
    files = sorted(glob.glob(os.path.join(DEMO_VAL, identity, "*")))
    if len(files) <= index:
        pytest.fail(f"no val photo {index} of {identity} in {DEMO_VAL}: run `make demo`")
    return files[index]


def two_person_photo(path, left=("jerry_seinfeld", 1), right=("mindy_kaling", 0), height=480) -> str:
    """A group photo made of two real demo photos pasted side by side at the same height (so both
    faces are about as large and the face picker offers both); written to `path`, returned."""
    from PIL import Image

    parts = []
    for identity, index in (left, right):
        img = Image.open(val_photo(identity, index)).convert("RGB")
        parts.append(img.resize((round(img.width * height / img.height), height), Image.Resampling.LANCZOS))
    canvas = Image.new("RGB", (sum(p.width for p in parts), height), (255, 255, 255))
    canvas.paste(parts[0], (0, 0))
    canvas.paste(parts[1], (parts[0].width, 0))
    canvas.save(path, "JPEG", quality=92)
    return str(path)


def wait_until(page, expression: str, arg=None, timeout: float = 10.0) -> None:
    """Poll a JavaScript predicate with page.evaluate until it is true.

    Playwright's wait_for_function re-evaluates its predicate with eval() inside the page, which
    the app's CSP (no 'unsafe-eval') refuses whenever the first check is false; page.evaluate
    goes through the driver and is not subject to it.
    """
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression, arg):
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {timeout:g} s: {expression}")
        time.sleep(0.05)


def horizontal_overflow(page) -> int:
    """Pixels the page is wider than the viewport (0 when nothing overflows)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def run_axe(page) -> list[dict]:
    """axe-core's serious and critical WCAG 2.1 A/AA violations on the page as it is now.

    The page keeps the app's Content-Security-Policy (no inline scripts): axe's source is not added
    as a <script> tag, which the policy refuses, but evaluated by the driver (DevTools protocol),
    which a page's policy does not govern."""
    if not os.path.isfile(AXE):
        pytest.fail(f"{AXE} is missing: `npm install --prefix build/npm axe-core@4` (make test-browser does it)")
    if not page.evaluate("typeof window.axe === 'object'"):
        with open(AXE, encoding="utf-8") as f:
            page.evaluate(f.read())
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {runOnly: {type: 'tag',
            values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ') + ': ' + n.failureSummary)}));
    }""")
    return [v for v in result if v["impact"] in ("serious", "critical")]


def launch(driver, extra_args=()):
    """Debian's Chromium (Playwright's own browser download is not used)."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install chromium` (make test-browser does it)")
    return driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + list(extra_args))


class PageWatch:
    """What went wrong in a page: script errors, CSP violations, dialogs (alert() is not allowed)."""

    def __init__(self):
        self.errors: list[str] = []
        self.csp: list[str] = []
        self.dialogs: list[str] = []

    def attach(self, page):
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("console", self._console)
        page.on("dialog", self._dialog)

    def _console(self, msg):
        if msg.type == "error" and "Content Security Policy" in msg.text:
            self.csp.append(msg.text)

    def _dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def check(self):
        assert not self.errors, f"script errors: {self.errors}"
        assert not self.csp, f"CSP violations: {self.csp}"
        assert not self.dialogs, f"dialogs were opened: {self.dialogs}"


"""Constants and helpers of the browser tests (fixtures are in conftest.py beside this file)."""

from __future__ import annotations

import glob
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO_VAL = os.path.join(ROOT, "instance", "datasets", "5-celebrity-faces", "val")
EDGE = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "edge-cases"))
AXE = os.path.join(ROOT, "build", "npm", "node_modules", "axe-core", "axe.min.js")

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
# The policy the security work will send: no inline scripts, styles or event handlers.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
NARROW = {"width": 360, "height": 740}


def val_photo(identity: str, index: int = 0) -> str:
    """A held-out demo photo of a celebrity."""
    files = sorted(glob.glob(os.path.join(DEMO_VAL, identity, "*")))
    if len(files) <= index:
        pytest.fail(f"no val photo {index} of {identity} in {DEMO_VAL}: run `make demo`")
    return files[index]


def edge_case(name: str) -> str:
    """A ../shared/data/edge-cases photo, skipping the test when shared data is absent."""
    path = os.path.join(EDGE, name)
    if not os.path.isfile(path):
        pytest.skip(f"{path} not present (../shared/data/edge-cases is only in dev checkouts and CI)")
    return path


def horizontal_overflow(page) -> int:
    """Pixels the page is wider than the viewport (0 when nothing overflows)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def run_axe(page) -> list[dict]:
    """axe-core's serious and critical WCAG 2.1 A/AA violations on the page as it is now."""
    if not os.path.isfile(AXE):
        pytest.fail(f"{AXE} is missing: `npm install --prefix build/npm axe-core@4` (make test-browser does it)")
    page.add_script_tag(path=AXE)
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


def with_csp(route):
    """Serve the HTML pages fetched with GET with the strict CSP header (the results pages come
    into them by script); leave other requests alone (Playwright cannot replay a form's files)."""
    if route.request.resource_type != "document" or route.request.method != "GET":
        route.continue_()
        return
    response = route.fetch(max_redirects=0)  # the browser follows redirects itself
    route.fulfill(response=response, headers={**response.headers, "content-security-policy": CSP})

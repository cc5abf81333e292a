"""Private mode's speed in headless Chromium: a 1-megapixel photo, "Find my look-alike" pressed to results shown.

Runs with the browser tests' environment (.venv-browser: Playwright), against a gunicorn it starts
with the app's interpreter (.venv) on the demo gallery. Measures the first visit (download, checks
and start of the networks), a second visit (from the cache), then RUNS matches of the same photo in
private mode (the page's own stage timings: decode, detection, embedding, the embedding's request)
and in upload mode for comparison. ONNX Runtime Web runs WebAssembly with SIMD on one thread (the
site does not ask for cross-origin isolation, which threads need); headless Chromium here has no GPU.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests")]
from bench.report import Report  # noqa: E402
from browser.browser_support import app_python, launch, val_photo  # noqa: E402


def megapixel_photo(path: str) -> str:
    """A demo photo enlarged to 1 megapixel (aspect kept), saved as a JPEG."""
    img = Image.open(val_photo("jerry_seinfeld", 1)).convert("RGB")
    scale = (1e6 / (img.width * img.height)) ** 0.5
    img = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=92)
    with open(path, "wb") as f:
        f.write(buf.getvalue())
    return f"{img.width}x{img.height}"


def serve(port: int) -> subprocess.Popen:
    """gunicorn on 127.0.0.1:port, ready."""
    env = dict(os.environ, LOOKSLIKE_GALLERY="demo", WEB_CONCURRENCY="1", TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.Popen([app_python(), "-m", "gunicorn", "--config", "gunicorn.conf.py", "--bind",
                             f"127.0.0.1:{port}", "--access-logfile", "/dev/null", "wsgi:app"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(480):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as resp:
                if resp.status == 200:
                    return proc
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    raise SystemExit("the server did not get ready")


def ready_seconds(page, url: str) -> float:
    """Seconds from opening the page to private mode ready."""
    t0 = time.perf_counter()
    page.goto(url)
    page.locator("[data-private-status]").filter(has_text=re.compile("^Ready")).wait_for(timeout=600_000)
    return time.perf_counter() - t0


# Marks taken by the page itself (the driver's own round trips are not the visitor's wait): the form's
# submit event, and the moment the results heading is in the document.
MARKS = """() => { const marks = window.benchMarks = {};
    document.addEventListener("submit", () => { marks.submit = performance.now(); }, true);
    new MutationObserver(() => { if (!marks.shown && document.getElementById("result-heading")) {
        marks.shown = performance.now(); } }).observe(document.body, {childList: true, subtree: true}); }"""


def one_match(page, url: str, photo: str, private: bool) -> tuple[float, dict]:
    """Seconds from pressing the button to the results heading shown (in the page), and its stage timings (ms)."""
    if private:
        ready_seconds(page, url)
    else:
        page.goto(url)
        page.uncheck("[data-private-toggle]")
    page.evaluate(MARKS)
    page.set_input_files("#photo", photo)
    page.click("[data-submit]")
    page.locator("#result-heading").wait_for(timeout=120_000)
    marks = page.evaluate("window.benchMarks")
    stages = page.evaluate("window.LooksLikePrivate.timings") if private else {}
    return (marks["shown"] - marks["submit"]) / 1000, stages


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--port", type=int, default=8710)
    ap.add_argument("--markdown", help="write the tables to this file")
    args = ap.parse_args()
    report = Report(args.markdown)
    from playwright.sync_api import sync_playwright

    proc = serve(args.port)
    url = f"http://127.0.0.1:{args.port}/"
    try:
        with tempfile.TemporaryDirectory() as tmp, sync_playwright() as driver:
            photo = os.path.join(tmp, "megapixel.jpg")
            size = megapixel_photo(photo)
            browser = launch(driver)
            page = browser.new_context().new_page()
            first, second = ready_seconds(page, url), ready_seconds(page, url)
            private = [one_match(page, url, photo, True) for _ in range(args.runs + 1)][1:]  # the first one warms up
            upload = [one_match(page, url, photo, False)[0] for _ in range(args.runs + 1)][1:]
            cold = one_match(browser.new_context().new_page(), url, photo, True)
            version = browser.version
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    ms = lambda values: f"{statistics.median(values) * 1000:.0f} ms"  # noqa: E731
    stage = lambda name: f"{statistics.median(t[name] for _, t in private):.0f} ms"  # noqa: E731
    print(report.note(f"Chromium {version} headless, no GPU; ONNX Runtime Web (WebAssembly SIMD, 1 thread); "
                      f"a {size} JPEG (1 megapixel); medians of {args.runs} runs."))
    print(report.table(["mode", "button to results shown", "decode", "detection", "embedding", "request"],
                       [["private", ms([s for s, _ in private]), stage("decode"), stage("detect"), stage("embed"),
                         stage("match")],
                        ["private, first match of a new visitor", f"{cold[0] * 1000:.0f} ms",
                         *(f"{cold[1][k]:.0f} ms" for k in ("decode", "detect", "embed", "match"))],
                        ["upload", ms(upload), "", "", "", ""]], "One match (in the page: the submit event to the "
                       "results heading in the document):"))
    print(report.table(["visit", "page opened to private mode ready"],
                       [["first (download, checks, start)", f"{first:.1f} s"],
                        ["second (from the cache)", f"{second:.1f} s"]], "Getting ready:"))
    report.write()


if __name__ == "__main__":
    main()

"""Private mode's speed in headless Chromium: a 1-megapixel photo, "Find my look-alike" pressed to results shown.

Runs with the browser tests' environment (.venv-browser: Playwright), against gunicorn servers it
starts with the app's interpreter (.venv) on the demo gallery (ports --port, +1 and +2):

1. the default settings: ONNX Runtime Web on WebAssembly with SIMD, one thread. The first visit
   (download, checks and start of the networks), a second visit (from the cache), RUNS matches of
   the same photo (the page's own stage timings: decode, detection, embedding, the embedding's
   request), a new visitor's first match, and RUNS uploads of the photo for comparison;
2. PRIVATE_THREADS (--threads, "auto" by default): the pages cross-origin isolated, WebAssembly on
   several threads; the same visits and matches;
3. WebGPU (PRIVATE_WEBGPU) where Chromium offers an adapter as launched, or with --webgpu where it
   offers one with --enable-unsafe-webgpu; otherwise a row says it is not offered.

Detection and embedding are reported apart, with each run's embedding of the photo compared with
the one-thread embedding (cosine). The matches of 1 and 2 (and the uploads) are taken in turns, so
that a change in a shared machine's load falls on each alike.
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests")]
from bench.report import Report  # noqa: E402
from browser.browser_support import CHROMIUM, CHROMIUM_ARGS, app_python, launch, val_photo  # noqa: E402

UNSAFE_WEBGPU = "--enable-unsafe-webgpu"
STAGES = ("decode", "detect", "embed", "match")


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


def serve(port: int, settings: dict[str, str]) -> subprocess.Popen:
    """gunicorn on 127.0.0.1:port with LOOKSLIKE_* `settings`, ready."""
    env = dict(os.environ, LOOKSLIKE_GALLERY="demo", WEB_CONCURRENCY="1", TF_CPP_MIN_LOG_LEVEL="2", **settings)
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


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=30)


def ready_seconds(page, url: str) -> float:
    """Seconds from opening the page to private mode ready."""
    t0 = time.perf_counter()
    page.goto(url)
    page.locator("[data-private-status]").filter(has_text=re.compile("^Ready")).wait_for(timeout=1_200_000)
    return time.perf_counter() - t0


# Marks taken by the page itself (the driver's own round trips are not the visitor's wait): the form's
# submit event, and the moment the results heading is in the document.
MARKS = """() => { const marks = window.benchMarks = {};
    document.addEventListener("submit", () => { marks.submit = performance.now(); }, true);
    new MutationObserver(() => { if (!marks.shown && document.getElementById("result-heading")) {
        marks.shown = performance.now(); } }).observe(document.body, {childList: true, subtree: true}); }"""

# Whether the browser offers a WebGPU adapter, and which.
PROBE = """async () => { if (!navigator.gpu) return {gpu: false, adapter: false};
    const a = await navigator.gpu.requestAdapter().catch(() => null);
    return {gpu: true, adapter: !!a, architecture: a && a.info ? a.info.architecture : "",
            fallback: !!(a && a.info && a.info.isFallbackAdapter)}; }"""

ANALYZE = """async (data) => { const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
    return (await window.LooksLikePrivate.analyze(new File([bytes], "x.jpg", {type: "image/jpeg"}))).embedding; }"""


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
    page.locator("#result-heading").wait_for(timeout=1_200_000)
    marks = page.evaluate("window.benchMarks")
    stages = page.evaluate("window.LooksLikePrivate.timings") if private else {}
    return (marks["shown"] - marks["submit"]) / 1000, stages


def visits(browser, url: str) -> dict:
    """A new visitor's page: its first and second visit (seconds to ready); matches are added to it."""
    page = browser.new_context().new_page()
    return {"page": page, "url": url, "first": ready_seconds(page, url), "second": ready_seconds(page, url),
            "matches": []}


def interleaved(runs: list[dict], photo: str, count: int) -> None:
    """`count` private matches on each run's page (upload ones where run["upload"]), taken in turns so
    that a change in the machine's load falls on every run alike; a warm-up round first."""
    for i in range(count + 1):
        for run in runs:
            done = one_match(run["page"], run["url"], photo, not run.get("upload"))
            if i:
                run["matches"].append(done)


def finish(run: dict, photo: str) -> dict:
    """The runtime the page chose and its embedding of the photo; the page closed."""
    page = run["page"]
    ready_seconds(page, run["url"])
    run["runtime"] = page.evaluate("({...window.LooksLikePrivate.runtime, cores: navigator.hardwareConcurrency})")
    with open(photo, "rb") as f:
        run["embedding"] = np.asarray(page.evaluate(ANALYZE, base64.b64encode(f.read()).decode("ascii")))
    page.context.close()
    return run


def measure(browser, url: str, photo: str, count: int) -> dict:
    run = visits(browser, url)
    interleaved([run], photo, count)
    return finish(run, photo)


def gpu_browser(driver, extra=()):
    """Chromium as the tests launch it, but without --disable-gpu: WebGPU as this Chromium offers it."""
    return driver.chromium.launch(executable_path=CHROMIUM,
                                  args=[a for a in CHROMIUM_ARGS if a != "--disable-gpu"] + list(extra))


def webgpu_probe(browser, url: str) -> dict:
    page = browser.new_context().new_page()
    page.goto(url)
    found = page.evaluate(PROBE)
    page.context.close()
    return found


def ms(values) -> str:
    return f"{statistics.median(values) * 1000:.0f} ms"


def match_row(label: str, run: dict, reference: np.ndarray) -> list[str]:
    stages = [f"{statistics.median(t[k] for _, t in run['matches']):.0f} ms" for k in STAGES]
    cosine = float(run["embedding"] @ reference / (np.linalg.norm(run["embedding"]) * np.linalg.norm(reference)))
    return [label, ms([s for s, _ in run["matches"]]), *stages, f"{cosine:.7f}"]


def gpu_words(probe: dict, flags: str) -> str:
    if not probe["gpu"]:
        return f"not offered by this Chromium{flags} (no navigator.gpu)"
    if not probe["adapter"]:
        return f"not offered by this Chromium{flags} (navigator.gpu is there; requestAdapter() gives null)"
    kind = "a fallback adapter, software on the CPU" if probe["fallback"] else "a hardware adapter"
    return f"{probe['architecture'] or 'unnamed'} ({kind}){flags}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--threads", default="auto", help="PRIVATE_THREADS of the threads run (default auto)")
    ap.add_argument("--webgpu", action="store_true",
                    help=f"where Chromium offers no WebGPU adapter as launched, try again with {UNSAFE_WEBGPU}")
    ap.add_argument("--webgpu-runs", type=int, default=2, help="matches on WebGPU (slow on a software adapter)")
    ap.add_argument("--port", type=int, default=8710, help="the servers' ports: this one and the next two")
    ap.add_argument("--markdown", help="write the tables to this file")
    args = ap.parse_args()
    report = Report(args.markdown)
    from playwright.sync_api import sync_playwright

    urls = [f"http://127.0.0.1:{args.port + i}/" for i in range(3)]
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as driver:
        photo = os.path.join(tmp, "megapixel.jpg")
        size = megapixel_photo(photo)
        procs = [serve(args.port, {}), serve(args.port + 1, {"LOOKSLIKE_PRIVATE_THREADS": args.threads})]
        browser = launch(driver)
        try:
            one, many = visits(browser, urls[0]), visits(browser, urls[1])
            upload = {"page": browser.new_page(), "url": urls[0], "upload": True, "matches": []}
            interleaved([one, many, upload], photo, args.runs)
            one, many = finish(one, photo), finish(many, photo)
            cold = one_match(browser.new_context().new_page(), urls[0], photo, True)
            version = browser.version
        finally:
            for proc in procs:
                stop(proc)
            browser.close()
        gpu, flags, proc = None, "", serve(args.port + 2, {"LOOKSLIKE_PRIVATE_WEBGPU": "true"})
        browser = gpu_browser(driver)
        try:
            probe = webgpu_probe(browser, urls[2])
            if not probe["adapter"] and args.webgpu:
                browser.close()
                browser, flags = gpu_browser(driver, [UNSAFE_WEBGPU]), f" with {UNSAFE_WEBGPU}"
                probe = webgpu_probe(browser, urls[2])
            if probe["adapter"]:
                gpu = measure(browser, urls[2], photo, args.webgpu_runs)
        finally:
            stop(proc)
            browser.close()

    ref = one["embedding"]
    threads = many["runtime"]["threads"]
    rows = [match_row("WebAssembly SIMD, 1 thread (the default)", one, ref),
            match_row(f"WebAssembly SIMD, {threads} threads (PRIVATE_THREADS={args.threads})", many, ref)]
    if gpu:
        fell_back = "" if gpu["runtime"]["backend"] == "webgpu" else ", but the page fell back to WebAssembly"
        rows.append(match_row(f"WebGPU: {gpu_words(probe, flags)}{fell_back}, median of {args.webgpu_runs}", gpu,
                              ref))
    else:
        rows.append([f"WebGPU: {gpu_words(probe, flags)}", "", "", "", "", "", ""])
    rows += [["WebAssembly SIMD, 1 thread, first match of a new visitor", f"{cold[0] * 1000:.0f} ms",
              *(f"{cold[1][k]:.0f} ms" for k in STAGES), ""],
             ["upload (the server's ONNX Runtime)", ms([s for s, _ in upload["matches"]]), "", "", "", "", ""]]
    print(report.note(f"Chromium {version} headless on a machine without a GPU; ONNX Runtime Web; a {size} JPEG "
                      f"(1 megapixel); medians of {args.runs} runs unless said. {os.cpu_count()} CPUs "
                      f"(navigator.hardwareConcurrency {many['runtime']['cores']})."))
    print(report.table(["run", "button to results shown", "decode", "detection", "embedding", "request",
                        "embedding's cosine to 1 thread's"], rows,
                       "One match (in the page: the submit event to the results heading in the document):"))
    ready = [["WebAssembly SIMD, 1 thread", f"{one['first']:.1f} s", f"{one['second']:.1f} s"],
             [f"WebAssembly SIMD, {threads} threads", f"{many['first']:.1f} s", f"{many['second']:.1f} s"]]
    if gpu:
        ready.append(["WebGPU", f"{gpu['first']:.1f} s", f"{gpu['second']:.1f} s"])
    print(report.table(["run", "first visit (download, checks, start)", "second visit (from the cache)"], ready,
                       "Getting ready (page opened to private mode ready):"))
    report.write()


if __name__ == "__main__":
    main()

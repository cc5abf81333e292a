"""Time and extra peak memory of costly-but-small requests (each must stay under 2 s and 300 MB).

Each case runs in its own process on the real app (Flask test client, real weights, demo gallery):
the app is loaded and warmed with one portrait, then the case (built beforehand by the parent
process, as multipart) is sent three times. Printed per case:
the answer's status and error code or face counts, the first and best time, and the peak RSS above
the warmed process's RSS (ru_maxrss, so the first run's peak counts). Also prints the load average,
since other work on the machine slows every number.

    .venv/bin/python bench/hostile.py                # every case
    .venv/bin/python bench/hostile.py crowd-625      # one case
    .venv/bin/python bench/hostile.py --markdown docs/bench/hostile.md
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests")]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from report import Report, add_option  # noqa: E402  (bench/report.py)
from server import memory_mb, multipart  # noqa: E402  (bench/server.py)

from hostile_inputs import animated_gif, crowd_jpeg, flat_image, framed_face, portrait  # noqa: E402


def large_jpeg() -> bytes:
    """A 12 MP phone-sized JPEG of a real face (decoded at reduced scale by JPEG draft mode)."""
    return framed_face(4000, 3000, "JPEG")


CASES = {
    "portrait": lambda: ("/api/v1/match", {"photo": portrait()}),
    "jpeg-12mp": lambda: ("/api/v1/match", {"photo": large_jpeg()}),
    "png-at-budget": lambda: ("/api/v1/match", {"photo": framed_face(3200, 3200, "PNG")}),
    "crowd-625": lambda: ("/api/v1/match", {"photo": crowd_jpeg()}),
    "webp-6300": lambda: ("/api/v1/match", {"photo": flat_image(6300, "WEBP")}),
    "png-6300": lambda: ("/api/v1/match", {"photo": flat_image(6300, "PNG")}),
    "gif-6300x3": lambda: ("/api/v1/match", {"photo": animated_gif(6300, 3)}),
    "check-10-crowds": lambda: ("/api/v1/check", {"photo": portrait(),
                                                  "anchor": [crowd_jpeg(offset=k) for k in range(10)]}),
}


def run_case(name: str, body_file: str) -> dict:
    """Load and warm the app, send the case (built by the parent, so building it costs nothing
    here) three times; the measurements."""
    from app import create_app

    with open(body_file, "rb") as f:
        path, content_type, body = pickle.load(f)
    app = create_app({"EAGER_LOAD": True, "GALLERY": "demo"})
    client = app.test_client()
    warm, warm_type = multipart({"photo": portrait()})
    client.post("/api/v1/match", data=warm, content_type=warm_type)
    before = memory_mb()["rss"]
    times, answer = [], None
    for _ in range(3):
        start = time.perf_counter()
        answer = client.post(path, data=body, content_type=content_type)
        times.append(time.perf_counter() - start)
    data = answer.get_json()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    summary = data.get("error") or {k: data.get(k, data.get("face", {}).get(k))
                                    for k in ("faces_detected", "faces_total", "faces_ignored")}
    return {"case": name, "status": answer.status_code, "answer": summary, "request_kb": round(len(body) / 1024),
            "first_s": round(times[0], 2), "best_s": round(min(times), 2),
            "extra_peak_mb": round(max(0.0, peak - before)), "rss_mb": round(before)}


def main() -> None:
    """Every case (or those named) in a fresh process each; one line per case."""
    if len(sys.argv) == 4 and sys.argv[1] == "--case":
        print(json.dumps(run_case(sys.argv[2], sys.argv[3])))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cases", nargs="*", metavar="CASE", help=f"cases to run (default all): {', '.join(CASES)}")
    add_option(ap)
    args = ap.parse_args()
    if unknown := set(args.cases) - set(CASES):
        ap.error(f"unknown cases {sorted(unknown)}: choose from {', '.join(CASES)}")
    report = Report(args.markdown)
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs", flush=True)
    rows = []
    for name in args.cases or list(CASES):
        path, fields = CASES[name]()
        body, content_type = multipart(fields)
        with tempfile.NamedTemporaryFile(suffix=".pickle") as f:
            pickle.dump((path, content_type, body), f)
            f.flush()
            out = subprocess.run([sys.executable, __file__, "--case", name, f.name], capture_output=True, text=True)
        line = out.stdout.strip().splitlines()[-1:] or [out.stderr[-500:]]
        load = os.getloadavg()[0]
        print(line[0], f"(load {load:.2f})", flush=True)
        try:
            r = json.loads(line[0])
        except json.JSONDecodeError:
            raise SystemExit(f"case {name} failed: {line[0]}") from None
        answer = r["answer"] if isinstance(r["answer"], str) else ", ".join(
            f"{k} {v}" for k, v in r["answer"].items() if v is not None)
        rows.append([name, f"{path}: {r['status']} {answer}", f"{r['request_kb']:,}", f"{r['first_s']:.2f}",
                     f"{r['best_s']:.2f}", f"+{r['extra_peak_mb']:,}", f"{r['rss_mb']:,}", f"{load:.2f}"])
    print(report.table(["case", "answer", "request KB", "first s", "best of 3 s", "extra peak RSS MB",
                        "warmed RSS MB", "load after"], rows,
                       "Each case in a fresh process (Flask test client, real weights, demo gallery) after one "
                       "portrait as warm-up, sent three times; extra peak RSS is the peak above the warmed "
                       "process's RSS."))
    report.write()


if __name__ == "__main__":
    main()

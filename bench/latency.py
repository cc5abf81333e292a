"""End-to-end latency of POST /api/v1/match over the demo val photos, split by stage.

Starts gunicorn on a free loopback port (or uses --url), warms up, then prints p50/p95 of the
request latency and of each stage (from the Server-Timing header): decode, detect, embed, score.
"""

from __future__ import annotations

import argparse
import glob
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VAL = os.path.join(ROOT, "instance", "datasets", "5-celebrity-faces", "val")


def free_port() -> int:
    """An unused loopback TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url: str, path: str) -> tuple[float, dict[str, float]]:
    """POST one photo as multipart; returns (seconds, stage ms from Server-Timing)."""
    boundary = uuid.uuid4().hex
    with open(path, "rb") as f:
        data = f.read()
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"p.jpg\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    req = urllib.request.Request(url + "/api/v1/match", data=body, method="POST",
                                 headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    start = time.perf_counter()
    with urllib.request.urlopen(req, timeout=60) as resp:
        resp.read()
        header = resp.headers.get("Server-Timing", "")
    elapsed = time.perf_counter() - start
    stages = {}
    for part in filter(None, (p.strip() for p in header.split(","))):
        name, _, dur = part.partition(";dur=")
        stages[name] = float(dur)
    return elapsed, stages


def wait_ready(url: str, timeout: float = 180) -> None:
    """Poll /readyz until the server is ready."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=5) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(1)
    raise SystemExit(f"server at {url} not ready after {timeout}s")


def main() -> None:
    """Run the benchmark and print the numbers."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--url", help="use a running server instead of starting gunicorn")
    ap.add_argument("--rounds", type=int, default=4, help="passes over the 25 val photos")
    ap.add_argument("--warmup", type=int, default=5)
    args = ap.parse_args()
    photos = sorted(glob.glob(os.path.join(VAL, "*", "*")))
    if not photos:
        raise SystemExit(f"no photos in {VAL}: run `make demo`")
    server = None
    url = args.url
    if not url:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [os.path.join(os.path.dirname(sys.executable), "gunicorn"), "--config", "gunicorn.conf.py",
             "--bind", f"127.0.0.1:{port}", "--access-logfile", "/dev/null", "wsgi:app"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(url)
        for path in photos[:args.warmup]:
            post(url, path)
        totals, stages = [], {}
        for _ in range(args.rounds):
            for path in photos:
                t, s = post(url, path)
                totals.append(t * 1000)
                for k, v in s.items():
                    stages.setdefault(k, []).append(v)
    finally:
        if server:
            server.terminate()
            server.wait(30)
    pct = lambda xs, q: float(np.percentile(xs, q))
    print(f"POST /api/v1/match  n={len(totals)}  p50={pct(totals, 50):.0f} ms  p95={pct(totals, 95):.0f} ms"
          f"  mean={np.mean(totals):.0f} ms  (cpus={os.cpu_count()})")
    for name, xs in stages.items():
        print(f"  {name:7s} p50={pct(xs, 50):6.1f} ms  p95={pct(xs, 95):6.1f} ms")
    other = np.array(totals) - sum(np.array(xs) for xs in stages.values())
    print(f"  {'http+io':7s} p50={pct(other, 50):6.1f} ms  (request parsing, JSON, network)")


if __name__ == "__main__":
    main()

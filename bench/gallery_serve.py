"""A served worker with a big gallery against the same worker with the demo: ready time, score stage, RSS.

Usage: python bench/gallery_serve.py --galleries demo,synth1m [--requests 300]

For each gallery, starts gunicorn (gunicorn.conf.py, one worker) on 127.0.0.1:8120 with
LOOKSLIKE_GALLERY set, times start -> /readyz 200, sends real photos to POST /api/v1/match one at a
time (the demo val photos and, when ../shared is present, LFW photos), and reads the score stage
from Server-Timing and the worker's memory after the requests: RSS, split into private (RssAnon)
and file-backed (RssFile + RssShmem: mapped gallery and library pages, shared and reclaimable).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from report import Report, add_option
from server import Server, memory_mb, photo_bodies, photo_sets, post


def main() -> None:
    """Serve each gallery in turn and print one table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--galleries", default="demo,synth1m")
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--port", type=int, default=8120)
    add_option(ap)
    args = ap.parse_args()
    report = Report(args.markdown)
    files = [f for group in photo_sets(100).values() for f in group]
    bodies = photo_bodies(files)
    rows = []
    for name in [g for g in args.galleries.split(",") if g]:
        env = dict(os.environ, LOOKSLIKE_GALLERY=name, WEB_CONCURRENCY="1")
        start = time.perf_counter()
        server = Server(args.port, env).start()
        ready = time.perf_counter() - start
        try:
            worker = server.pids()[1]
            before = memory_mb(worker)
            scores = [post(server.url, *bodies[i % len(bodies)])[1].get("score", float("nan"))
                      for i in range(args.requests)]
            after = memory_mb(worker)
        finally:
            server.stop()
        rows.append((name, ready, np.nanpercentile(scores, 50), np.nanpercentile(scores, 95), before, after))
    caption = (f"one gunicorn worker per gallery, {args.requests} POST /api/v1/match of {len(files)} real photos "
               f"(load average {os.getloadavg()[0]:.1f})")
    print(caption)
    print(report.table(
        ["gallery", "ready after start", "score p50 ms", "p95 ms", "worker RSS MB at ready", "after requests",
         "of which private", "file-backed"],
        [[name, f"{ready:.1f} s", f"{p50:.2f}", f"{p95:.2f}", f"{before['rss']:.0f}", f"{after['rss']:.0f}",
          f"{after['private']:.0f}", f"{after['file']:.0f}"] for name, ready, p50, p95, before, after in rows],
        caption))
    base = rows[0][5]["rss"]
    for name, *_, after in rows[1:]:
        print(report.note(f"{name}: worker RSS {after['rss'] - base:+.0f} MB against {rows[0][0]}"))
    report.write()


if __name__ == "__main__":
    main()

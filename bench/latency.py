"""End-to-end latency of POST /api/v1/match, split by stage, for each runtime side by side.

Starts one gunicorn per runtime (RUNTIME=onnx on 127.0.0.1:8110, RUNTIME=tf on :8111, or --port
and the next one; one worker each), warms both up, then sends the same photos to each in turn, one
request at a time, so load from elsewhere on the machine hits both alike. Prints p50/p95 of the
request and of each stage (from the Server-Timing header: decode, detect, embed, score) per photo
set and runtime, the worker's CPU time per request (user + system, all threads; steadier than wall
time on a shared machine) and the load average. Photo sets: the 25 demo val photos, 25 LFW photos
(../shared/data/lfw when present) and the 1080p phone photo of ../shared/data/edge-cases (when
present).
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from report import Report, add_option
from server import VAL, Server, cpu_seconds, photo_bodies, photo_sets, post

RUNTIMES = ("onnx", "tf")


def main() -> None:
    """Run the benchmark and print the table."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=2, help="passes over each photo set")
    ap.add_argument("--count", type=int, default=25, help="LFW photos")
    ap.add_argument("--runtimes", default="onnx,tf")
    ap.add_argument("--port", type=int, default=8110, help="the ONNX server's port; TensorFlow's is the next one")
    add_option(ap)
    args = ap.parse_args()
    report = Report(args.markdown)
    sets = photo_sets(args.count)
    if "demo val" not in sets:
        raise SystemExit(f"no photos in {VAL}: run `make demo`")
    wanted = [r for r in args.runtimes.split(",") if r]
    if unknown := set(wanted) - set(RUNTIMES):
        raise SystemExit(f"unknown runtimes {sorted(unknown)}: choose from {', '.join(RUNTIMES)}")
    servers = {}
    try:
        for runtime in wanted:
            env = dict(os.environ, LOOKSLIKE_RUNTIME=runtime, WEB_CONCURRENCY="1")
            servers[runtime] = Server(args.port + RUNTIMES.index(runtime), env).start()
        load0 = os.getloadavg()[0]
        results: dict[tuple[str, str], list[tuple[float, dict]]] = {}
        for name, files in sets.items():
            bodies = photo_bodies(files)
            rounds = args.rounds * (10 if len(files) == 1 else 1)
            for server in servers.values():  # warm-up
                post(server.url, *bodies[0])
            for _ in range(rounds):
                for body in bodies:
                    for runtime, server in servers.items():
                        workers = server.pids()[1:]
                        cpu0 = cpu_seconds(workers)
                        total, stages = post(server.url, *body)
                        stages["cpu"] = (cpu_seconds(workers) - cpu0) * 1000
                        results.setdefault((name, runtime), []).append((total, stages))
    finally:
        for server in servers.values():
            server.stop()
    print(report.note(f"POST /api/v1/match, one request at a time, 1 worker per runtime (cpus={os.cpu_count()}, "
                      f"load average {load0:.1f} -> {os.getloadavg()[0]:.1f}); stage columns: p50 ms"))
    rows = []
    for (name, runtime), timings in results.items():
        totals = np.array([t for t, _ in timings])
        stage = {k: np.array([s.get(k, 0.0) for _, s in timings]) for k in ("decode", "detect", "embed", "score")}
        other = totals - sum(stage.values())
        rows.append([name, runtime, len(timings), f"{np.percentile(totals, 50):.0f} ms",
                     f"{np.percentile(totals, 95):.0f} ms", *(f"{np.percentile(v, 50):.1f}" for v in stage.values()),
                     f"{np.percentile(other, 50):.1f}", f"{np.mean([s['cpu'] for _, s in timings]):.0f}"])
    print(report.table(["photos", "runtime", "n", "total p50", "p95", "decode", "detect", "embed", "score",
                        "http+io", "CPU ms mean"], rows))
    report.write()


if __name__ == "__main__":
    main()

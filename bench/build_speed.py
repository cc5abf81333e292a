"""Gallery build throughput: `flask gallery build` on the same LFW photos with 1 process and with one per CPU.

Usage: python bench/build_speed.py [--photos 600] [--workers 1,2]

Needs ../shared/data/lfw (the photos are linked into a temporary folder, whole identities, spread
over the alphabet). Each build goes into its own temporary galleries folder (LOOKSLIKE_GALLERIES_DIR);
the table gives the build's own summary (photos/s over the build, start-up of the networks
included), the wall time of the whole command and its CPU time (all processes).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time

from report import Report, add_option

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LFW = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "lfw", "images"))


def link_photos(target: str, count: int) -> int:
    """Link about `count` LFW photos (whole identities, every 5th one) into target/<identity>/."""
    linked = 0
    for k, identity in enumerate(sorted(os.listdir(LFW))):
        if k % 5 or linked >= count:
            continue
        os.makedirs(os.path.join(target, identity))
        for name in sorted(os.listdir(os.path.join(LFW, identity))):
            os.symlink(os.path.join(LFW, identity, name), os.path.join(target, identity, name))
            linked += 1
    return linked


def children_cpu() -> float:
    """CPU seconds (user + system) of the finished child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    """Run the builds and print one table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=600)
    ap.add_argument("--workers", default=f"1,{len(os.sched_getaffinity(0))}")
    add_option(ap)
    args = ap.parse_args()
    report = Report(args.markdown)
    if not os.path.isdir(LFW):
        raise SystemExit(f"no LFW photos at {LFW}")
    flask = [os.path.join(os.path.dirname(sys.executable), "flask"), "--app", "app"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "photos")
        photos = link_photos(src, args.photos)
        for workers in sorted({int(w) for w in args.workers.split(",") if w}):
            env = dict(os.environ, LOOKSLIKE_GALLERIES_DIR=os.path.join(tmp, f"g{workers}"), TF_CPP_MIN_LOG_LEVEL="3")
            cpu0, start = children_cpu(), time.perf_counter()
            out = subprocess.run(flask + ["gallery", "build", src, "--name", "bench", "--workers", str(workers)],
                                 cwd=ROOT, env=env, capture_output=True, text=True)
            wall, cpu = time.perf_counter() - start, children_cpu() - cpu0
            if out.returncode:
                raise SystemExit(out.stderr[-2000:])
            rate = re.search(r"\(([\d.]+) photos/s\)", out.stdout)
            rows.append((workers, float(rate.group(1)), wall, cpu))
    caption = f"flask gallery build, {photos} LFW photos (250 x 250), load average {os.getloadavg()[0]:.1f}"
    print(caption)
    print(report.table(
        ["processes", "photos/s (build summary)", "command wall s", "photos/s (command)", "CPU ms per photo"],
        [[workers, f"{rate:.1f}", f"{wall:.1f}", f"{photos / wall:.1f}", f"{cpu / photos * 1000:.0f}"]
         for workers, rate, wall, cpu in rows], caption))
    report.write()


if __name__ == "__main__":
    main()

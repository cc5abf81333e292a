"""Gallery build throughput: `flask gallery build` on the same LFW photos with 1 process and with one per CPU
(and with the Ray engine, when Ray is installed), then what the IMDB-WIKI subsets take at those rates.

Usage: python bench/build_speed.py [--photos 2000] [--workers 1,2] [--no-ray]

Needs ../shared/data/lfw (the photos are linked into a temporary folder, whole identities, spread
over the alphabet). Each build goes into its own temporary galleries folder (LOOKSLIKE_GALLERIES_DIR);
the table gives the build's own summary (photos/s over the build, start-up of the networks
included), the wall time of the whole command and its CPU time (all its child processes: Ray's
workers belong to Ray's own daemon, so the Ray row has none). From the rates it
projects the builds of `flask gallery download imdb-wiki`: the photos of each subset on this machine
(the best local rate) and on a Ray cluster (the Ray engine's rate per CPU, times the cluster's CPUs).
The subsets' filters (one face, a real face score) and the quality loop leave out part of each
archive, so the whole archive's count bounds the time from above.
"""

from __future__ import annotations

import argparse
import importlib.util
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
# Face crops in the published archives (Rothe, Timofte and Van Gool: IMDB-WIKI).
SUBSETS = {"wiki": 62_328, "imdb": 460_723, "both": 62_328 + 460_723}
CLUSTERS = ((10, 16), (25, 32))  # nodes x CPUs of the Ray clusters projected


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
    ap.add_argument("--photos", type=int, default=2000)
    ap.add_argument("--workers", default=f"1,{len(os.sched_getaffinity(0))}")
    ap.add_argument("--no-ray", action="store_true", help="skip the Ray engine's build")
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
        runs = [(f"local, {w} process{'es' if w > 1 else ''}", ["--workers", str(w)], w)
                for w in sorted({int(w) for w in args.workers.split(",") if w})]
        if not args.no_ray and importlib.util.find_spec("ray"):
            cpus = len(os.sched_getaffinity(0))
            runs.append((f"Ray, {cpus} CPUs (local Ray)", ["--engine", "ray", "--ray-cpus", str(cpus)], cpus))
        for k, (label, options, cpus) in enumerate(runs):
            env = dict(os.environ, LOOKSLIKE_GALLERIES_DIR=os.path.join(tmp, f"g{k}"), TF_CPP_MIN_LOG_LEVEL="3")
            cpu0, start = children_cpu(), time.perf_counter()
            out = subprocess.run(flask + ["gallery", "build", src, "--name", "bench", *options],
                                 cwd=ROOT, env=env, capture_output=True, text=True)
            wall, cpu = time.perf_counter() - start, children_cpu() - cpu0
            if out.returncode:
                raise SystemExit(out.stderr[-2000:])
            rate = float(re.search(r"\(([\d.]+) photos/s\)", out.stdout).group(1))
            rows.append((label, cpus, rate, wall, cpu))
    caption = f"flask gallery build, {photos} LFW photos (250 x 250), load average {os.getloadavg()[0]:.1f}"
    print(caption)
    print(report.table(
        ["engine", "photos/s (build summary)", "photos/s per CPU", "command wall s", "photos/s (command)",
         "CPU ms per photo"],
        [[label, f"{rate:.1f}", f"{rate / cpus:.1f}", f"{wall:.1f}", f"{photos / wall:.1f}",
          "(Ray's workers: not counted)" if label.startswith("Ray") else f"{cpu / photos * 1000:.0f}"]
         for label, cpus, rate, wall, cpu in rows], caption))
    local = max(rate for label, _, rate, _, _ in rows if label.startswith("local"))
    ray_rows = [rate / cpus for label, cpus, rate, _, _ in rows if label.startswith("Ray")]
    per_core = ray_rows[0] if ray_rows else None
    header = ["subset", "photos (archive)", f"here ({len(os.sched_getaffinity(0))} CPUs, {local:.1f} photos/s)"]
    if per_core:
        header += [f"Ray core-hours ({per_core:.1f} photos/s per CPU)",
                   *(f"Ray, {n} x {c} CPUs" for n, c in CLUSTERS)]
    projected = []
    for name, count in SUBSETS.items():
        cells = [name, f"{count:,}", duration(count / local)]
        if per_core:
            cells += [f"{count / per_core / 3600:.1f}", *(duration(count / (per_core * n * c)) for n, c in CLUSTERS)]
        projected.append(cells)
    print(report.table(header, projected,
                       "The IMDB-WIKI subsets at these rates (downloads not included; the filters leave out part "
                       "of each archive, so these bound the build time from above)."))
    report.write()


def duration(seconds: float) -> str:
    """Seconds as h:mm (or m:ss under an hour)."""
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d} h" if minutes >= 60 else f"{minutes}:{secs:02d} min"


if __name__ == "__main__":
    main()

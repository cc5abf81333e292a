"""How long the default test suite takes, run N times in a row, on a quiet machine or under CPU load.

    .venv/bin/python bench/suite_runs.py --runs 3 --markdown docs/bench/suite_runs.md
    .venv/bin/python bench/suite_runs.py --runs 3 --load --markdown docs/bench/suite_runs_load.md
    .venv/bin/python bench/suite_runs.py --runs 1 --pytest-args "tests/test_architecture.py"

Each run is `python -m pytest -q` (plus --pytest-args) in the checkout, its output kept only for the
summary line. With --load, one busy-looping process per CPU runs for the whole time (stopped in
every case when the script ends), as other work on a shared machine or CI runner does. The table
gives per run the counts of pytest's summary, the wall time, pytest's own time and the load average.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import signal
import subprocess
import sys
import time

from report import ROOT, Report, add_option

OUTCOMES = ("passed", "failed", "errors", "skipped", "xfailed", "xpassed", "deselected")
# Spins until its parent is gone, so a load process never outlives a killed benchmark.
BUSY_LOOP = "import os\nparent = os.getppid()\nwhile os.getppid() == parent:\n    for _ in range(10**6): pass\n"


def summary(output: str) -> tuple[dict[str, int], float | None]:
    """Counts and seconds from pytest's last summary line ("3 passed, 1 skipped in 2.50s (0:00:02)")."""
    for line in reversed(output.strip().splitlines()):
        found = re.findall(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected|warnings?)\b", line)
        seconds = re.search(r" in ([\d.]+)s\b", line)
        if seconds and (found or "no tests ran" in line):
            counts = {("errors" if kind.startswith("error") else kind): int(n) for n, kind in found}
            return counts, float(seconds.group(1))
    return {}, None


def start_load(count: int) -> list[subprocess.Popen]:
    """`count` processes that each keep one CPU busy."""
    return [subprocess.Popen([sys.executable, "-c", BUSY_LOOP], stdin=subprocess.DEVNULL) for _ in range(count)]


def stop_load(procs: list[subprocess.Popen]) -> None:
    """Stop the busy processes this script started (each by its own handle) and reap them."""
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
    for proc in procs:
        proc.wait()


def run_suite(python: str, extra: list[str]) -> tuple[dict[str, int], float, float | None, int, str, list[str]]:
    """One run of the suite: (counts, wall seconds, pytest's seconds, exit status, output's last line, the
    FAILED/ERROR lines of pytest's short summary: which tests, so that a failure under load can be found)."""
    start = time.perf_counter()
    out = subprocess.run([python, "-m", "pytest", "-q", "-rfE", *extra], cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    counts, seconds = summary(out.stdout)
    last = (out.stdout.strip().splitlines() or out.stderr.strip().splitlines() or [""])[-1]
    failures = [line for line in out.stdout.splitlines() if line.startswith(("FAILED ", "ERROR "))]
    return counts, wall, seconds, out.returncode, last, failures


def main() -> None:
    """Run the suite --runs times (under load with --load) and print one table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--load", action="store_true", help="keep every CPU busy with another process meanwhile")
    ap.add_argument("--load-processes", type=int, default=os.cpu_count(), help="busy processes with --load")
    ap.add_argument("--pytest-args", default="", help="extra pytest arguments, e.g. a test file to run only it")
    ap.add_argument("--python", default=sys.executable, help="the interpreter whose pytest runs the suite")
    add_option(ap)
    args = ap.parse_args()
    report = Report(args.markdown)
    extra = shlex.split(args.pytest_args)
    command = shlex.join(["python", "-m", "pytest", "-q", *extra])
    busy = args.load_processes if args.load else 0
    conditions = (f"`{command}`, {args.runs} runs in a row, "
                  + (f"{busy} busy-looping processes on {os.cpu_count()} CPUs throughout" if busy
                     else "no added load"))
    print(conditions, flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so `finally` stops the load on a plain kill too
    rows, failed = [], False
    load = start_load(busy)
    try:
        for run in range(1, args.runs + 1):
            before = os.getloadavg()[0]
            counts, wall, seconds, status, last, failures = run_suite(args.python, extra)
            after = os.getloadavg()[0]
            failed |= status != 0
            others = ", ".join(f"{counts[k]} {k}" for k in OUTCOMES[4:] if counts.get(k))
            rows.append([run, counts.get("passed", 0), counts.get("failed", 0) + counts.get("errors", 0),
                         counts.get("skipped", 0), others or "-", f"{wall:.1f}",
                         f"{seconds:.1f}" if seconds is not None else "-", f"{before:.2f} -> {after:.2f}", status])
            print(f"run {run}: {last} (wall {wall:.0f} s, exit {status}, load {before:.2f} -> {after:.2f})",
                  *failures, sep="\n", flush=True)
    finally:
        stop_load(load)
    print(report.table(["run", "passed", "failed + errors", "skipped", "other", "wall s", "pytest s",
                        "load average (1 min) before -> after", "exit status"], rows, conditions + "."))
    report.write()
    if failed:
        raise SystemExit("a run failed: see the exit status column")


if __name__ == "__main__":
    main()

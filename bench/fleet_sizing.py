"""Fleet sizing: instances and bandwidth for 10, 100 and 1,000 matches/s on the EC2 types of docs/deploy-ec2.md.

Measured here, then computed:
1. CPU per match of one server: a gunicorn with gunicorn.conf.py's defaults answers --matches POSTs to
   /api/v1/match per photo set (--clients at a time, after a warm-up); user + system CPU seconds of its
   processes / answers. CPU time, not wall time: on a shared machine it is the figure that stays put,
   and a vCPU doing nothing else answers 1000 / (CPU ms) matches a second. The wall-clock rate of the
   run and the load average are reported beside it. Photo sets: the demo val photos, and a 1080p phone
   photo shrunk as the page sends it when ../shared/data has one; the costlier set sizes the fleet.
   Private mode's requests (the JSON embedding of each demo photo's face) are measured beside them
   and size a fleet of their own: the server only scores them.
2. The bytes of a first visit and of a further match (bench/first_visit.py, with the test client).

Per instance type: matches/s per instance = vCPUs x 1000 / (CPU ms per match) x the Auto Scaling
group's CPU target (--target-cpu, the template's CpuTargetPercent); instances for each rate, at least
two (one per availability zone); what they cost per hour at on-demand prices (PRICES, or --price).

    python bench/fleet_sizing.py --markdown docs/bench/fleet_sizing.md
    python bench/fleet_sizing.py --matches 20 --price c7i.large=0.0893   # a quick look, another price
"""

from __future__ import annotations

import argparse
import glob
import math
import os
import threading
import time
from typing import NamedTuple

from first_visit import PHONE, browser_upload, measure, totals
from report import Report, add_option
from server import VAL, Server, cpu_seconds, embedding_bodies, multipart, photo_bodies, post


class InstanceType(NamedTuple):
    name: str
    vcpus: int
    memory_gib: int
    workers: int  # WebConcurrency, as docs/deploy-ec2.md advises


# The types of docs/deploy-ec2.md ("Instance sizes"); tests/test_fleet_sizing.py keeps them in step.
INSTANCE_TYPES = [InstanceType("c7i.large", 2, 4, 1), InstanceType("c7i.xlarge", 4, 8, 2),
                  InstanceType("c7i.2xlarge", 8, 16, 2), InstanceType("m7i.large", 2, 8, 1)]
# On-demand Linux list prices (USD per hour) in us-east-1 (N. Virginia) as published in 2024; they change
# and differ by region: check https://aws.amazon.com/ec2/pricing/on-demand/ and pass --price TYPE=USD.
PRICES = {"c7i.large": 0.08925, "c7i.xlarge": 0.1785, "c7i.2xlarge": 0.357, "m7i.large": 0.1008}
PRICES_AS_OF = "us-east-1 on-demand Linux list prices as published in 2024"
# Data transfer out to the internet, us-east-1, first 10 TB a month (2024 list price).
EGRESS_USD_PER_GB = 0.09
RATES = (10, 100, 1000)
HOURS_A_MONTH = 730
MIN_INSTANCES = 2  # one per availability zone
EMBEDDINGS = "private mode: the embeddings of the demo val photos"


def per_instance_rate(kind: InstanceType, cpu_ms: float, target: float) -> float:
    """Matches/s one instance answers with its CPUs busy at `target` (0-1) on average."""
    return kind.vcpus * 1000.0 / cpu_ms * target


def instances_needed(rate: float, per_instance: float, minimum: int = MIN_INSTANCES) -> int:
    """Instances for `rate` matches/s, never fewer than `minimum`."""
    return max(minimum, math.ceil(rate / per_instance - 1e-9))


def mbit_per_s(bytes_each: int, rate: float) -> float:
    return bytes_each * rate * 8 / 1e6


def photo_sets() -> dict[str, list[tuple[bytes, str]]]:
    """Request bodies per photo set: the demo val photos; the phone photo as the page sends it, when present."""
    sets = {"demo val photos": photo_bodies(sorted(glob.glob(os.path.join(VAL, "*", "*"))))}
    if os.path.isfile(PHONE):
        sets["1080p phone photo, shrunk as the page sends it"] = [multipart({"photo": browser_upload(PHONE)})]
    if not sets["demo val photos"]:
        raise SystemExit(f"no photos in {VAL}: run `make demo`")
    sets[EMBEDDINGS] = embedding_bodies(sorted(glob.glob(os.path.join(VAL, "*", "*"))))
    return sets


def cpu_per_match(server: Server, bodies: list[tuple[bytes, str]], matches: int, clients: int) -> dict:
    """`matches` POSTs, `clients` at a time: CPU ms per 200, answered/s (wall clock), load average."""
    for body in bodies[:2]:
        post(server.url, *body)  # warm-up
    todo = iter(range(matches))
    lock, statuses = threading.Lock(), []

    def client() -> None:
        while True:
            with lock:
                k = next(todo, None)
            if k is None:
                return
            try:
                post(server.url, *bodies[k % len(bodies)])
                status = 200
            except OSError as exc:  # urllib's HTTPError is an OSError with the status
                status = getattr(exc, "code", 0)
            with lock:
                statuses.append(status)

    load0, cpu0, start = os.getloadavg()[0], cpu_seconds(server.pids()), time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall, cpu = time.monotonic() - start, cpu_seconds(server.pids()) - cpu0
    ok = statuses.count(200)
    if not ok:
        raise SystemExit(f"no match answered 200: {statuses[:10]}")
    return {"cpu_ms": cpu * 1000 / ok, "rps": ok / wall, "ok": ok, "other": len(statuses) - ok,
            "load": f"{load0:.1f}-{os.getloadavg()[0]:.1f}"}


def sizing_rows(cpu_ms: float, target: float, prices: dict[str, float]) -> list[list[str]]:
    """Per instance type: its size, capacity, price and the instances (and their cost) per rate."""
    rows = []
    for kind in INSTANCE_TYPES:
        each = per_instance_rate(kind, cpu_ms, target)
        price = prices.get(kind.name)
        cells = [kind.name, f"{kind.vcpus} / {kind.memory_gib}", str(kind.workers), f"{each:.1f}",
                 f"{price:g}" if price else "(fill in)"]
        for rate in RATES:
            n = instances_needed(rate, each)
            cells.append(f"{n} (${n * price:,.2f}/h)" if price else str(n))
        rows.append(cells)
    return rows


def bandwidth_rows(first: tuple[int, int], further: tuple[int, int]) -> list[list[str]]:
    """Per rate: egress when every match is a first visit and when none is, uploads, egress per hour."""
    rows = []
    for rate in RATES:
        gb_hour = first[0] * rate * 3600 / 1e9
        rows.append([f"{rate:,}", f"{mbit_per_s(first[0], rate):,.1f}", f"{mbit_per_s(further[0], rate):,.1f}",
                     f"{mbit_per_s(first[1], rate):,.1f}", f"{gb_hour:,.1f}", f"${gb_hour * EGRESS_USD_PER_GB:,.2f}"])
    return rows


def parse_prices(pairs: list[str]) -> dict[str, float]:
    """PRICES with --price TYPE=USD overrides."""
    prices = dict(PRICES)
    for pair in pairs:
        name, _, usd = pair.partition("=")
        if name not in {k.name for k in INSTANCE_TYPES} or not usd:
            raise SystemExit(f"--price {pair!r}: expected TYPE=USD with TYPE one of "
                             f"{', '.join(k.name for k in INSTANCE_TYPES)}")
        prices[name] = float(usd)
    return prices


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=8130, help="loopback port of the gunicorn it starts")
    ap.add_argument("--matches", type=int, default=60, help="matches per photo set")
    ap.add_argument("--clients", type=int, default=len(os.sched_getaffinity(0)), help="requests at a time")
    ap.add_argument("--target-cpu", type=float, default=0.6, help="average CPU the fleet runs at (0-1)")
    ap.add_argument("--price", action="append", default=[], metavar="TYPE=USD", help="price per hour of a type")
    add_option(ap)
    args = ap.parse_args()
    report = Report(args.markdown)
    prices = parse_prices(args.price)
    first_parts, further_parts, photo = measure()
    sets = photo_sets()
    server = Server(args.port, dict(os.environ)).start()
    try:
        measured = {name: cpu_per_match(server, bodies, args.matches * (10 if name == EMBEDDINGS else 1),
                                        args.clients)
                    for name, bodies in sets.items()}
    finally:
        server.stop()
    print(report.table(["photos", "matches", "not 200", "server CPU ms per match", "matches/s per vCPU (CPU)",
                        "answered/s here (wall)", "load avg"],
                       [[name, m["ok"], m["other"], f"{m['cpu_ms']:.0f}", f"{1000 / m['cpu_ms']:.1f}",
                         f"{m['rps']:.1f}", m["load"]] for name, m in measured.items()],
                       f"One server (gunicorn.conf.py defaults, {os.cpu_count()} CPUs), {args.clients} requests at a "
                       "time: CPU = user + system of its processes / answers."))
    sizing_set = max((name for name in measured if name != EMBEDDINGS), key=lambda name: measured[name]["cpu_ms"])
    cpu_ms = measured[sizing_set]["cpu_ms"]
    print(report.table(["part", "files", "bytes", "direction"],
                       [[p.name, p.files, f"{p.size:,}", "up" if p.upload else "down"] for p in first_parts],
                       f"A first visit (bench/first_visit.py; the photo: {photo}). Response bodies without "
                       "HTTP headers, TLS or compression."))
    first, further = totals(first_parts), totals(further_parts)
    print(report.note(f"A first visit: {first[0]:,} bytes down, {first[1]:,} up; a further match of the same "
                      f"visitor: {further[0]:,} down (results page and thumbnails), {further[1]:,} up."))
    print(report.table(
        ["instance", "vCPU / GiB", "workers", f"matches/s each at {args.target_cpu:.0%} CPU", "USD/h each",
         *(f"instances for {r:,}/s (USD/h)" for r in RATES)],
        sizing_rows(cpu_ms, args.target_cpu, prices),
        f"Instances for each rate at {cpu_ms:.0f} ms of CPU per match ({sizing_set}), at least {MIN_INSTANCES} "
        f"(two availability zones). Prices: {PRICES_AS_OF} (they change: check the AWS price list). Not "
        "included: the load balancer, Redis, volumes and data transfer (below)."))
    private_ms = measured[EMBEDDINGS]["cpu_ms"]
    print(report.table(
        ["instance", "vCPU / GiB", "workers", f"matches/s each at {args.target_cpu:.0%} CPU", "USD/h each",
         *(f"instances for {r:,}/s (USD/h)" for r in RATES)],
        sizing_rows(private_ms, args.target_cpu, prices),
        f"The same for private mode's matches, which the visitors' browsers embed: {private_ms:.1f} ms of server "
        "CPU each (scoring on this gallery, HTTP, limits). Each new visitor downloads the browser's networks "
        "once (48 MB, docs/private-mode.md; cached afterwards), which counts in the egress of first visits."))
    print(report.table(
        ["matches/s", "egress Mbit/s, all first visits", "egress Mbit/s, all further matches", "uploads Mbit/s",
         "egress GB/h (first visits)", f"egress USD/h at ${EGRESS_USD_PER_GB}/GB"],
        bandwidth_rows(first, further),
        "Bandwidth at the load balancer (response and upload bodies only; headers and TLS add a few percent). "
        f"Egress price: data transfer out to the internet, {PRICES_AS_OF.split(' on-demand')[0]}, for the first "
        f"10 TB a month (2024 list price); from {10e12 / (first[0] * HOURS_A_MONTH * 3600):.0f} matches/s of first "
        "visits a month passes 10 TB, and the gigabytes beyond cost less."))
    print(report.note("A vCPU here and a vCPU of the instance type differ (CPU model, clock, the other "
                      "hyperthread's load): run `python bench/fleet_sizing.py` on the type you choose and "
                      "size from its CPU per match."))
    report.write()


if __name__ == "__main__":
    main()

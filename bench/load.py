"""Load benchmark: closed-loop and open-loop load on POST /api/v1/match against a gunicorn it starts.

Closed loop: N clients (default 1, 2, 4, 8, 16) each send the next photo as soon as the last answer
arrives, for --seconds each. Open loop: requests arrive at a fixed rate (--open-factor x the best
closed-loop rate, unless --open-rate) whatever the answers, each with a 30 s client timeout, as
independent visitors do. A probe GETs /healthz every 0.25 s throughout. Prints per phase: req/s
answered 200, p50/p95/p99 of those, 503s (shed), other errors, the slowest /healthz, the server's
RSS (sum over gunicorn's processes, and the largest worker) and the load average.

    python bench/load.py                       # defaults: gunicorn.conf.py's workers and threads
    WEB_CONCURRENCY=1 python bench/load.py --clients 1,4,8 --seconds 15
    python bench/load.py --url http://127.0.0.1:8000  # a server already running (no RSS column)
    python bench/load.py --mode embedding --clients 8  # private mode's requests: scoring only

The photos are the 25 demo val photos (LFW-like 250 px faces at various sizes), or --photos DIR.
--mode embedding sends, instead of each photo, the JSON embedding of its face that private mode's
page would send (computed here by the engine before the server starts): the server only scores.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import glob
import http.client
import os
import threading
import time
import urllib.parse

from report import Report, add_option, table
from server import VAL, Server, cpu_seconds, embedding_bodies, photo_bodies, rss_mb

HEADER = ["load", "sent", "ok req/s", "p50 ms", "p95 ms", "p99 ms", "503", "errors", "healthz p99 / max ms (fails)",
          "server CPU ms per 200", "RSS MB all (worker)", "load avg"]


class Client:
    """Sends requests to one server and records (seconds, status) of each; status 0 = no answer."""

    def __init__(self, url: str, bodies: list[tuple[bytes, str]], timeout: float = 30.0, keep_alive: bool = False):
        parts = urllib.parse.urlsplit(url)
        self.host, self.port = parts.hostname, parts.port or 80
        self.bodies = bodies
        self.timeout = timeout
        self.keep_alive = keep_alive  # each thread keeps its connection open, as a browser does
        self._connections = threading.local()
        self.results: list[tuple[float, int]] = []
        self.retry_after = 1.0  # seconds; the last Retry-After the server sent
        self._lock = threading.Lock()
        self._next = 0

    def request(self, method: str, path: str, body: bytes | None = None, ctype: str = "") -> tuple[float, int]:
        """One request on a fresh connection: (seconds, status)."""
        start = time.perf_counter()
        conn = getattr(self._connections, "conn", None) if self.keep_alive else None
        conn = conn or http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        keep = False
        try:
            conn.request(method, path, body=body, headers={"Content-Type": ctype} if ctype else {})
            resp = conn.getresponse()
            resp.read()
            status = resp.status
            keep = self.keep_alive and not resp.will_close
            if status == 503:
                self.retry_after = float(resp.getheader("Retry-After") or 1)
        except (OSError, http.client.HTTPException):
            status = 0
        finally:
            if not keep:
                conn.close()
            self._connections.conn = conn if keep else None
        return time.perf_counter() - start, status

    def match(self) -> int:
        """POST the next photo, record the outcome and return its status."""
        with self._lock:
            body, ctype = self.bodies[self._next % len(self.bodies)]
            self._next += 1
        outcome = self.request("POST", "/api/v1/match", body, ctype)
        with self._lock:
            self.results.append(outcome)
        return outcome[1]


class HealthProbe(threading.Thread):
    """GET /healthz every `every` seconds (1 s timeout) until stopped; keeps the latencies."""

    def __init__(self, client: Client, every: float = 0.25):
        super().__init__(daemon=True)
        self.client, self.every = client, every
        self.latencies: list[float] = []
        self.failures = 0
        self.stop = threading.Event()
        self.client.timeout = 1.0

    def run(self) -> None:
        """Probe until stopped."""
        while not self.stop.wait(self.every):
            seconds, status = self.client.request("GET", "/healthz")
            self.latencies.append(seconds)
            self.failures += status != 200


def closed_loop(client: Client, clients: int, seconds: float) -> None:
    """`clients` threads, each sending its next request when the last one is answered (after a 503, when
    its Retry-After has passed, as a well-behaved client does)."""
    end = time.monotonic() + seconds

    def loop() -> None:
        while time.monotonic() < end:
            if client.match() == 503:
                time.sleep(max(0.0, min(client.retry_after, end - time.monotonic())))
    threads = [threading.Thread(target=loop) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def open_loop(client: Client, rate: float, seconds: float) -> None:
    """Requests started at `rate` per second for `seconds`, answered or not."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=256) as pool:
        start = time.monotonic()
        for k in range(int(rate * seconds)):
            delay = start + k / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pool.submit(client.match)


def pct(values: list[float], q: float) -> float:
    """q-th percentile (ms) of seconds, nearest rank; nan when empty."""
    if not values:
        return float("nan")
    values = sorted(values)
    return 1000 * values[min(len(values) - 1, max(0, round(q / 100 * len(values) + 0.5) - 1))]


def phase(name: str, url: str, bodies: list, run, seconds: float, server: Server | None,
          keep_alive: bool = False) -> dict:
    """Run one load phase with a health probe beside it; returns its row."""
    client = Client(url, bodies, keep_alive=keep_alive)
    probe = HealthProbe(Client(url, bodies))
    load0 = os.getloadavg()[0]
    cpu0 = cpu_seconds(server.pids()) if server else float("nan")
    probe.start()
    started = time.monotonic()
    run(client)
    elapsed = max(time.monotonic() - started, seconds)
    probe.stop.set()
    probe.join()
    ok = [s for s, status in client.results if status == 200]
    shed = sum(status == 503 for _, status in client.results)
    errors = len(client.results) - len(ok) - shed
    total, worker = rss_mb(server) if server else (float("nan"), float("nan"))
    cpu = (cpu_seconds(server.pids()) - cpu0) * 1000 / max(1, len(ok)) if server else float("nan")
    return {"phase": name, "sent": len(client.results), "rps": len(ok) / elapsed, "p50": pct(ok, 50),
            "p95": pct(ok, 95), "p99": pct(ok, 99), "shed": shed, "errors": errors,
            "health_max": max(probe.latencies, default=float("nan")) * 1000,
            "health_p99": pct(probe.latencies, 99), "health_fail": probe.failures,
            "rss": total, "rss_worker": worker, "cpu": cpu, "load": f"{load0:.1f}-{os.getloadavg()[0]:.1f}"}


def cells(r: dict) -> list[str]:
    """One phase's row of the table."""
    return [r["phase"], str(r["sent"]), f"{r['rps']:.1f}", f"{r['p50']:.0f}", f"{r['p95']:.0f}", f"{r['p99']:.0f}",
            str(r["shed"]), str(r["errors"]), f"{r['health_p99']:.0f} / {r['health_max']:.0f} ({r['health_fail']})",
            f"{r['cpu']:.0f}", f"{r['rss']:.0f} ({r['rss_worker']:.0f})", r["load"]]


def print_rows(rows: list[dict], header: bool = True) -> None:
    """Phases as they finish: Markdown table rows (after the header when asked)."""
    text = table(HEADER, [cells(r) for r in rows]).splitlines()
    print("\n".join(text if header else text[2:]), flush=True)


def main() -> None:
    """Start the server (unless --url), run the phases, print the table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="a running server instead of starting gunicorn")
    ap.add_argument("--port", type=int, default=8110, help="loopback port of the gunicorn it starts")
    ap.add_argument("--clients", default="1,2,4,8,16", help="closed-loop concurrencies")
    ap.add_argument("--seconds", type=float, default=20, help="length of each phase")
    ap.add_argument("--open-factor", type=float, default=2.0, help="open-loop rate as a multiple of capacity")
    ap.add_argument("--open-rate", type=float, help="open-loop rate (req/s); overrides --open-factor")
    ap.add_argument("--open-seconds", type=float, help="length of the open-loop phase (default --seconds)")
    ap.add_argument("--photos", default=VAL, help="folder of photos (searched recursively)")
    ap.add_argument("--max-photos", type=int, default=50, help="photos taken, spread evenly over the folder")
    ap.add_argument("--mode", choices=("photo", "embedding"), default="photo",
                    help="what each request sends: the photo, or its face's embedding (private mode)")
    ap.add_argument("--keep-alive", action="store_true",
                    help="each client keeps its connection open between requests (as a browser does); "
                         "default: a new connection per request")
    ap.add_argument("--server-cpus", help="pin the server to these CPUs, e.g. 0 (a 1-vCPU instance; the "
                    "load generator keeps the others)")
    add_option(ap)
    args = ap.parse_args()
    report = Report(args.markdown)
    files = sorted(f for f in glob.glob(os.path.join(args.photos, "**", "*"), recursive=True) if os.path.isfile(f))
    if not files:
        raise SystemExit(f"no photos in {args.photos}: run `make demo`")
    files = files[:: max(1, len(files) // args.max_photos)][: args.max_photos]
    bodies = embedding_bodies(files) if args.mode == "embedding" else photo_bodies(files)
    cpus = {int(c) for c in args.server_cpus.split(",")} if args.server_cpus else None
    server = None if args.url else Server(args.port, dict(os.environ), cpus).start()
    url = args.url or server.url
    setup = (f"{url}: workers={os.environ.get('WEB_CONCURRENCY', 'default')} "
             f"threads={os.environ.get('GUNICORN_THREADS', 'default')} "
             f"runtime={os.environ.get('LOOKSLIKE_RUNTIME', 'auto')} cpus={os.cpu_count()} "
             f"server cpus={sorted(cpus) if cpus else 'all'} {args.mode}s={len(files)} "
             f"connections={'kept open' if args.keep_alive else 'one per request'} "
             f"gallery={os.environ.get('LOOKSLIKE_GALLERY', 'default')}")
    print(f"# {setup}", flush=True)
    rows = []
    try:
        Client(url, bodies).match()  # warm-up
        for n in (int(c) for c in args.clients.split(",") if c):
            rows.append(phase(f"closed {n}", url, bodies, lambda c, n=n: closed_loop(c, n, args.seconds),
                              args.seconds, server, args.keep_alive))
            print_rows(rows[-1:], header=len(rows) == 1)
        capacity = max((r["rps"] for r in rows), default=5.0)
        rate = args.open_rate if args.open_rate is not None else args.open_factor * capacity
        seconds = args.open_seconds or args.seconds
        if rate > 0:
            rows.append(phase(f"open {rate:.1f}/s", url, bodies, lambda c: open_loop(c, rate, seconds),
                              seconds, server, args.keep_alive))
            print_rows(rows[-1:], header=False)
    finally:
        if server:
            server.stop()
    print()
    notes = [setup, f"{args.seconds:g} s per closed-loop phase"]
    if rows and rows[-1]["phase"].startswith("open"):
        notes.append(f"open-loop goodput: {rows[-1]['rps']:.1f} req/s = {rows[-1]['rps'] / capacity:.0%} of the "
                     f"best closed-loop rate ({capacity:.1f} req/s), {seconds:g} s")
    notes.append("closed-loop clients wait Retry-After after a 503; server CPU = user + system of gunicorn's "
                 "processes during the phase, divided by the 200 answers")
    print(report.table(HEADER, [cells(r) for r in rows], "; ".join(notes[:2]) + "."))
    for line in notes[2:]:
        print(report.note(line))
    print(f"load average now: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    report.write()


if __name__ == "__main__":
    main()

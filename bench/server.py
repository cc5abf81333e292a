"""A gunicorn serving the app for the benchmarks: started on a loopback port, ready-checked, measured, stopped."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Server:
    """gunicorn (gunicorn.conf.py) on 127.0.0.1:port with the given environment."""

    def __init__(self, port: int, env: dict[str, str], cpus: set[int] | None = None):
        self.port = port
        self.env = env
        self.cpus = cpus  # pin gunicorn to these CPUs (its default workers follow: one per CPU)
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 240) -> Server:
        """Start it and wait until /readyz answers 200."""
        gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
        self.proc = subprocess.Popen([gunicorn, "--config", "gunicorn.conf.py", "--bind", f"127.0.0.1:{self.port}",
                                      "--access-logfile", "/dev/null"] + ["wsgi:app"],
                                     cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     preexec_fn=(lambda: os.sched_setaffinity(0, self.cpus)) if self.cpus else None)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"gunicorn on port {self.port} exited with {self.proc.returncode}")
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=5) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.5)
        self.stop()
        raise SystemExit(f"server at {self.url} not ready after {timeout}s")

    def stop(self) -> None:
        """Stop gunicorn and wait for it."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)

    def pids(self) -> list[int]:
        """gunicorn's master and its workers."""
        if not self.proc:
            return []
        out = [self.proc.pid]
        try:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                out += [int(p) for p in f.read().split()]
        except OSError:
            pass
        return out


def rss_of(pid: int) -> float:
    """Resident memory of a process (MB), 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by these processes (all their threads)."""
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            pass
    return total


def rss_mb(server: Server) -> tuple[float, float]:
    """(RSS of master and workers together, RSS of the largest worker), MB."""
    pids = server.pids()
    sizes = [rss_of(p) for p in pids]
    return sum(sizes), max(sizes[1:], default=0.0)

"""A real gunicorn (gunicorn.conf.py) on a free 127.0.0.1 port (8401-8409 by default), for the HTTP tests."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from conftest import ROOT, free_port, stop_server

PORTS = range(8401, 8410)


class Served(NamedTuple):
    """A running gunicorn: its port, its log file and its master process."""

    port: int
    log: Path
    proc: subprocess.Popen


@contextlib.contextmanager
def gunicorn(tmp: Path, env: dict[str, str], target: str, workers: int, ready: str = "/healthz",
             ports: range = PORTS) -> Iterator[Served]:
    """gunicorn serving `target` with `env` on a free port of `ports`; yields once `ready` answers and every
    worker booted; stopped (SIGTERM) at the end."""
    port, log = free_port(ports), tmp / "gunicorn.log"
    env = {**os.environ, "WEB_CONCURRENCY": str(workers), "PROMETHEUS_MULTIPROC_DIR": str(tmp / "prom"),
           "TF_CPP_MIN_LOG_LEVEL": "3", **env}
    cmd = [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}",
           "--no-control-socket", target]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}{ready}", timeout=2)
                if log.read_text().count("Booting worker") >= workers:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("gunicorn did not start:\n" + log.read_text()[-3000:])
            time.sleep(0.5)
        yield Served(port, log, proc)
    finally:
        stop_server(proc)

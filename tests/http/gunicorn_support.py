"""A real gunicorn (gunicorn.conf.py) on a 127.0.0.1 port of 8401-8409, for the HTTP tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import ROOT

PORTS = range(8401, 8410)


def free_port() -> int:
    """The first free port of the ones this project may use."""
    for port in PORTS:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                return port
    pytest.skip("no free port in 8401-8409")


@contextlib.contextmanager
def gunicorn(tmp: Path, env: dict[str, str], target: str, workers: int,
             ready: str = "/healthz") -> Iterator[tuple[int, Path]]:
    """gunicorn serving `target` with `env`; yields (port, log file) once `ready` answers and every worker booted."""
    port, log = free_port(), tmp / "gunicorn.log"
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
        yield port, log
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()

"""A real gunicorn whose settings come from its instance folder's config.py only (ports 8300-8309).

gunicorn's master and worker (app/http/buffering.py, the access log of app/http/serving.py) read
settings through app/settings.py, as the app does: instance/config.py counts there too, CPU_SLOTS
set there wins over gunicorn's default, and a misspelt name is reported when gunicorn starts.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import time
import urllib.request

import pytest
from gunicorn_support import gunicorn

PORTS = range(8300, 8310)
SETTINGS = """\
MAX_CONTENT_LENGTH = 1000
BODY_TIMEOUT = 2
TRUSTED_PROXIES = 1
ACCESS_LOG_CLIENT = True
CPU_SLOTS = {slots}
MAX_CONTENT_LENGHT = 5
"""


def slots_beyond_default() -> int:
    """A CPU_SLOTS that gunicorn's own default (the CPUs / workers) can never be."""
    return len(os.sched_getaffinity(0)) + 5


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """gunicorn (app factory, networks not loaded, one worker) on an instance folder of its own."""
    tmp = tmp_path_factory.mktemp("instance-settings")
    folder = tmp / "instance"
    folder.mkdir()
    (folder / "config.py").write_text(SETTINGS.format(slots=slots_beyond_default()))
    env = {"GUNICORN_THREADS": "2", "LOOKSLIKE_INSTANCE_PATH": str(folder)}
    with pytest.MonkeyPatch.context() as mp:  # only the file sets anything: no LOOKSLIKE_* of the caller's
        for name in [n for n in os.environ if n.startswith("LOOKSLIKE_")]:
            mp.delenv(name)
        with gunicorn(tmp, env, "app:create_app()", workers=1, ports=PORTS) as served:
            yield served, folder


def raw_status(port: int, request: bytes, timeout: float = 30) -> tuple[int, dict]:
    """Send raw bytes; the answer's status and JSON body (the connection stays open until the server answers)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        raw = b""
        while chunk := s.recv(65536):
            raw += chunk
            head, sep, body = raw.partition(b"\r\n\r\n")
            length = re.search(rb"(?i)content-length: (\d+)", head)
            if sep and length and len(body) >= int(length.group(1)):
                break
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def metric(port: int, name: str, timeout: float = 30) -> float | None:
    """A sample of /metrics without labels."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout).read().decode()
    found = re.search(rf"^{name} (\S+)$", text, re.M)
    return float(found.group(1)) if found else None


def test_body_over_the_instance_limit_gets_413_without_waiting_for_it(server):
    """The worker's loop hands a request over MAX_CONTENT_LENGTH (1000 here, 10 MB by default) to the app
    at once, which answers 413 unread; with the default limit it would wait for the body and answer 408."""
    (port, _, _), _ = server
    head = b"POST /api/v1/match HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n"
    status, body = raw_status(port, head)
    assert status == 413 and body["error"] == "too_large"


def test_body_timeout_of_the_instance_file_cuts_a_silent_client(server):
    """BODY_TIMEOUT = 2 from the file: the loop's 408 comes long before the socket's 30 s (the default is 60)."""
    (port, _, _), _ = server
    head = b"POST /api/v1/match HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"
    status, body = raw_status(port, head)
    assert status == 408 and body["error"] == "request_timeout"


def test_access_log_names_the_forwarded_client(server):
    """TRUSTED_PROXIES = 1 and ACCESS_LOG_CLIENT = True from the file: the client the proxy forwarded."""
    (port, log, _), _ = server

    def health_lines() -> list[dict]:
        lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
        return [e for e in lines if e["path"] == "/healthz" and "client" in e]

    before = len(health_lines())  # the fixture's readiness probes came straight from 127.0.0.1
    req = urllib.request.Request(f"http://127.0.0.1:{port}/healthz?probe=forwarded",
                                 headers={"X-Forwarded-For": "198.51.100.7, 203.0.113.9"})
    assert urllib.request.urlopen(req, timeout=10).status == 200
    deadline = time.monotonic() + 30
    while len(entries := health_lines()) <= before and time.monotonic() < deadline:
        time.sleep(0.1)  # the worker writes the line after answering
    assert len(entries) > before and entries[before]["client"] == "203.0.113.9"


def test_cpu_slots_of_the_instance_file_beat_gunicorns_default(server):
    (port, _, _), _ = server
    assert metric(port, "lookslike_cpu_slots") == slots_beyond_default()


def test_misspelt_setting_is_reported_at_start(server):
    (_, log, _), folder = server
    text = log.read_text()
    assert f"unknown setting MAX_CONTENT_LENGHT in {folder / 'config.py'}: did you mean MAX_CONTENT_LENGTH?" in text
    assert text.count("did you mean MAX_CONTENT_LENGTH?") >= 2  # by gunicorn's master and by the app


def test_new_workers_read_a_changed_instance_file_after_hup(server):
    """Last in the module: the file changes and gunicorn reloads (`kill -HUP`, docs/configuration.md)."""
    (port, _, proc), folder = server
    changed = slots_beyond_default() + 1
    (folder / "config.py").write_text(SETTINGS.format(slots=changed))
    proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 240
    while True:  # the old worker answers until it exits; then the request waits for the new one to load the app
        try:
            if metric(port, "lookslike_cpu_slots", timeout=120) == changed:
                break
        except OSError:
            pass
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.2)

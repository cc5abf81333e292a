"""Against a real gunicorn on 127.0.0.1 (gunicorn.conf.py): raw sockets for what test clients cannot send."""

from __future__ import annotations

import json
import re
import select
import socket
import time
import urllib.request

import pytest
from gunicorn_support import gunicorn

from conftest import trickle

BODY_TIMEOUT = 2


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """gunicorn with two workers (app factory, networks not loaded), its port and its log file."""
    env = {"GUNICORN_THREADS": "2", "LOOKSLIKE_BODY_TIMEOUT": str(BODY_TIMEOUT)}
    with gunicorn(tmp_path_factory.mktemp("gunicorn"), env, "app:create_app()", workers=2) as (port, log, _):
        time.sleep(3)  # let the second worker finish importing
        yield port, log


def exchange(port: int, parts: list[tuple[bytes, float]], timeout: float = 20) -> tuple[float, int, dict, bytes]:
    """Send raw pieces (each followed by a pause, cut short by an answer), read it: seconds, status, headers, body."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        for data, pause in parts:
            try:
                s.sendall(data)
            except OSError:
                break
            if select.select([s], [], [], pause)[0]:  # the answer came: stop sending
                break
        raw = b""
        while b"\r\n\r\n" not in raw or len(raw.partition(b"\r\n\r\n")[2]) < length_of(raw):
            chunk = s.recv(65536)
            if not chunk:
                break
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return time.monotonic() - start, int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def length_of(raw: bytes) -> int:
    """Content-Length of a response read so far (0 until its headers are complete)."""
    found = re.search(rb"(?i)content-length: (\d+)", raw.partition(b"\r\n\r\n")[0])
    return int(found.group(1)) if found else 0


def error_of(body: bytes) -> dict:
    """The JSON error, in the documented shape."""
    data = json.loads(body)
    assert set(data) <= {"error", "message", "field"} and data["message"]
    return data


def test_bad_chunk_size_is_400_json(server):
    port, _ = server
    req = (b"POST /api/v1/match HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
           b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n")
    _, status, headers, body = exchange(port, [(req, 0)])
    assert status == 400 and headers["content-type"] == "application/json"
    assert error_of(body)["error"] == "bad_request" and "chunk" in error_of(body)["message"].lower()


def test_chunked_body_that_is_fine_is_read(server):
    port, _ = server
    payload = b'{"image": "!!"}'
    req = (b"POST /api/v1/match HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
           b"Transfer-Encoding: chunked\r\n\r\n" + f"{len(payload):x}\r\n".encode() + payload + b"\r\n0\r\n\r\n")
    _, status, _, body = exchange(port, [(req, 0)])
    assert status == 400 and "base64" in error_of(body)["message"]


def test_slow_client_gets_408_at_the_deadline(server):
    port, _ = server
    head = (b"POST /api/v1/match HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000\r\n\r\n")
    trickle = [(head, 0.2)] + [(b"{", 0.5)] * 12  # would take 6 s; the deadline is 2 s
    seconds, status, _, body = exchange(port, trickle)
    assert status == 408 and error_of(body)["error"] == "request_timeout"
    assert BODY_TIMEOUT - 0.5 < seconds < BODY_TIMEOUT + 3  # at the deadline, not when the client gives up
    assert urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).status == 200


def test_trickling_clients_cannot_hold_every_thread(server):
    """More trickling uploads than the server has threads (2 workers x 2): each is cut off at the deadline."""
    from concurrent.futures import ThreadPoolExecutor

    port, _ = server
    head = (b"POST /api/v1/check HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000\r\n\r\n")
    trickle = [(head, 0.2)] + [(b" ", 0.3)] * 40  # 12 s if never cut off
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: exchange(port, trickle), range(6)))
    assert [status for _, status, _, _ in answers] == [408] * 6
    assert max(seconds for seconds, _, _, _ in answers) < 2 * BODY_TIMEOUT + 4  # at most two rounds of threads
    assert urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).status == 200


def test_64_slow_clients_hold_no_thread(server):
    """64 clients trickling headers or a body (a byte every 2 s) against 2 workers x 2 threads: a normal
    client's request is still answered within 1 s (the worker reads requests whole before a thread
    takes them, app/http/buffering.py)."""
    import threading

    port, _ = server
    stop = threading.Event()
    heads = [b"POST /api/v1/match HTTP/1.1\r\nHost: t\r\nX-Slow: ",
             b"POST /api/v1/match HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
             b"Content-Length: 900\r\n\r\n{"]
    threads = [threading.Thread(target=trickle, args=(port, heads[i % 2], stop), daemon=True) for i in range(64)]
    started = time.monotonic()
    for t in threads:
        t.start()
    try:
        # Within BODY_TIMEOUT (2 s) of their start: the slow clients are all still being read (at 2 s
        # each gets its 408 and the test would prove nothing).
        time.sleep(0.5)
        req = (b"POST /api/v1/match HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
               b"Content-Length: 15\r\n\r\n{\"image\": \"!!\"}")
        for _ in range(3):
            seconds, status, _, body = exchange(port, [(req, 0)])
            assert status == 400 and "base64" in error_of(body)["message"] and seconds < 1
        start = time.monotonic()
        assert urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).status == 200
        assert time.monotonic() - start < 1
        assert time.monotonic() - started < BODY_TIMEOUT  # all checked while the slow clients held sockets
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=10)


def test_silent_client_gets_408(server):
    port, _ = server
    head = (b"POST /api/v1/verify HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"Content-Length: 5000\r\n\r\n{")
    seconds, status, _, _ = exchange(port, [(head, 0)])
    assert status == 408 and seconds < BODY_TIMEOUT + 3


def test_gunicorn_rejections_under_api_are_json(server):
    port, _ = server
    bad = b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: t\r\nBad Header\r\n\r\n"
    _, status, headers, body = exchange(port, [(bad, 0)])
    assert status == 400 and headers["content-type"] == "application/json"
    assert error_of(body)["error"] == "bad_request"
    _, status, headers, _ = exchange(port, [(b"GET / HTTP/1.1\r\nHost: t\r\nBad Header\r\n\r\n", 0)])
    assert status == 400 and headers["content-type"].startswith("text/html")  # pages: gunicorn's own


def test_access_log_is_json_without_addresses_or_query(server):
    port, log = server
    urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz?secret=token123", timeout=5)
    time.sleep(0.5)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert any(e["path"] == "/healthz" and e["status"] == 200 for e in lines)
    assert set(lines[-1]) == {"time", "method", "path", "status", "bytes", "duration_ms", "pid"}
    text = log.read_text()
    assert "token123" not in text and "127.0.0.1" not in text.replace(f"127.0.0.1:{port}", "")


def test_metrics_add_up_over_workers(server):
    port, _ = server
    for _ in range(12):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5)
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    found = re.search(r'lookslike_http_requests_total\{method="GET",route="/healthz",status="200"\} (\S+)', text)
    assert found and float(found.group(1)) >= 12

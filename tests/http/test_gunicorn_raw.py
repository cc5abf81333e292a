"""Against a real gunicorn on 127.0.0.1 (gunicorn.conf.py): raw sockets for what test clients cannot send."""

from __future__ import annotations

import http.client
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
    trickle = [(head, 0.2)] + [(b"{", 0.5)] * 240  # still sending when answered: the server cut it off
    seconds, status, _, body = exchange(port, trickle)
    assert status == 408 and error_of(body)["error"] == "request_timeout"
    assert seconds >= BODY_TIMEOUT  # not before its deadline
    assert urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=20).status == 200


def test_trickling_clients_are_each_cut_off(server):
    """More trickling uploads than the server has threads (2 workers x 2): each is cut off at its deadline
    (that they hold no thread meanwhile is test_64_slow_clients_hold_no_thread's)."""
    from concurrent.futures import ThreadPoolExecutor

    port, _ = server
    head = (b"POST /api/v1/check HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000\r\n\r\n")
    trickle = [(head, 0.2)] + [(b" ", 0.3)] * 400  # still sending when answered: the server cut them off
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: exchange(port, trickle), range(6)))
    assert [status for _, status, _, _ in answers] == [408] * 6
    assert min(seconds for seconds, _, _, _ in answers) >= BODY_TIMEOUT
    assert urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=20).status == 200


def rejected(port: int, status: int) -> float:
    """lookslike_http_rejected_total for `status` (answers of the app and of the workers' loops)."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=20).read().decode()
    found = re.search(rf'lookslike_http_rejected_total\{{status="{status}"\}} (\S+)', text)
    return float(found.group(1)) if found else 0.0


def test_64_slow_clients_hold_no_thread(tmp_path):
    """64 clients trickling headers or a body (a byte every 2 s) against 2 workers x 2 threads: a normal
    client's request is still answered while they are all being read (the worker reads requests whole
    before a thread takes them, app/http/buffering.py)."""
    import threading

    env = {"GUNICORN_THREADS": "2", "LOOKSLIKE_BODY_TIMEOUT": "600"}  # none is cut off during the test
    heads = [b"POST /api/v1/match HTTP/1.1\r\nHost: t\r\nX-Slow: ",
             b"POST /api/v1/match HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
             b"Content-Length: 900\r\n\r\n{"]
    stop, sent = threading.Event(), [threading.Event() for _ in range(64)]
    with gunicorn(tmp_path, env, "app:create_app()", workers=2) as (port, _, _):
        threads = [threading.Thread(target=trickle, args=(port, heads[i % 2], stop), kwargs={"sent": sent[i]},
                                    daemon=True) for i in range(64)]
        for t in threads:
            t.start()
        try:
            # Every slow client is connected and has sent its first bytes: each is ahead of the normal
            # client's connection in the accept queue, and (with gthread) would take a thread first.
            assert all(event.wait(60) for event in sent)
            req = (b"POST /api/v1/match HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                   b"Content-Length: 15\r\n\r\n{\"image\": \"!!\"}")
            for _ in range(3):
                _, status, _, body = exchange(port, [(req, 0)])
                assert status == 400 and "base64" in error_of(body)["message"]
            assert urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=20).status == 200
            # ... all answered while the slow clients still held their sockets, none cut off.
            assert all(t.is_alive() for t in threads) and rejected(port, 408) == 0
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=10)


def test_silent_client_gets_408(server):
    port, _ = server
    head = (b"POST /api/v1/verify HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"Content-Length: 5000\r\n\r\n{")
    seconds, status, _, _ = exchange(port, [(head, 0)])
    assert status == 408 and seconds >= BODY_TIMEOUT


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
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        # Two requests on one connection: a worker logs a request before it reads the connection's
        # next one, so once the second is answered the first is in the log.
        for path in ("/healthz?secret=token123", "/healthz"):
            conn.request("GET", path)
            conn.getresponse().read()
    finally:
        conn.close()
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert any(e["path"] == "/healthz" and e["status"] == 200 for e in lines)
    assert set(lines[-1]) == {"time", "method", "path", "status", "bytes", "duration_ms", "pid"}
    text = log.read_text()
    assert "token123" not in text and "127.0.0.1" not in text.replace(f"127.0.0.1:{port}", "")


def test_metrics_add_up_over_workers(server):
    port, _ = server
    for _ in range(12):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=20)
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=20).read().decode()
    found = re.search(r'lookslike_http_requests_total\{method="GET",route="/healthz",status="200"\} (\S+)', text)
    assert found and float(found.group(1)) >= 12

"""Overload: admission control (CPU slots, a bounded queue, 503 + Retry-After), deadlines, health under load."""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import http.client
import json
import os
import re
import select
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from gunicorn_support import gunicorn
from held_slots import HOLDING, WAITING

from conftest import read, val_photos

HERE = os.path.dirname(os.path.abspath(__file__))


def multipart(data: bytes) -> tuple[bytes, str]:
    """A multipart body with the photo as field `photo`, and its content type."""
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"p.jpg\"\r\n"
            "Content-Type: image/jpeg\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def call(port: int, method: str, path: str, body: bytes | None = None, ctype: str = "",
         timeout: float = 60) -> tuple[float, int, dict, bytes]:
    """One request on its own connection: seconds, status, headers, body."""
    start = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": ctype} if ctype else {})
        resp = conn.getresponse()
        data = resp.read()
        return time.monotonic() - start, resp.status, dict(resp.getheaders()), data
    finally:
        conn.close()


class SlotEvents:
    """The test's end of held_slots.py: requests of the served app that wait for a CPU slot or hold one."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.listener = socket.socket(socket.AF_UNIX)
        self.listener.bind(path)
        self.listener.listen(64)
        self.listener.settimeout(60)
        self.held: list[socket.socket] = []

    def next(self) -> bytes:
        """The next event, in the order they happened: WAITING, or HOLDING (the slot is kept until release)."""
        conn, _ = self.listener.accept()
        conn.settimeout(60)
        event = conn.recv(1)
        if event == HOLDING:
            self.held.append(conn)
        else:
            conn.close()
        return event

    def none_pending(self) -> bool:
        """No request has waited for a slot or taken one since the last event taken."""
        return not select.select([self.listener], [], [], 0)[0]

    def release(self) -> None:
        """Let the request that has held its slot longest run its match."""
        self.held.pop(0).close()

    def close(self) -> None:
        """Let every held request go; no more events."""
        while self.held:
            self.release()
        self.listener.close()


@contextlib.contextmanager
def held_server(tmp: Path, threads: int, queue_ms: int, retry_after: int = 1) -> Iterator[tuple[int, SlotEvents]]:
    """gunicorn (held_slots.py: wsgi.py's app, demo gallery) with one worker, one CPU slot, `threads`
    threads and a `queue_ms` queue bound; its port and the events of its slot, which the test holds."""
    events = SlotEvents(str(tmp / "slots.sock"))
    env = {"GUNICORN_THREADS": str(threads), "LOOKSLIKE_CPU_SLOTS": "1", "LOOKSLIKE_QUEUE_TIMEOUT": str(queue_ms),
           "LOOKSLIKE_REQUEST_DEADLINE": "600000", "LOOKSLIKE_GALLERY": "demo",
           "LOOKSLIKE_RETRY_AFTER": str(retry_after), "HELD_SLOTS_SOCKET": events.path,
           "PYTHONPATH": os.pathsep.join(filter(None, [HERE, os.environ.get("PYTHONPATH")]))}
    try:
        with gunicorn(tmp, env, "held_slots:app_with_held_slots()", workers=1, ready="/readyz") as (port, _, _):
            try:
                yield port, events
            finally:
                events.close()  # before gunicorn's graceful stop, which would wait for a held request
    finally:
        events.close()


def shed(port: int, reason: str) -> float:
    """lookslike_shed_total for `reason`, from the server's /metrics."""
    text = call(port, "GET", "/metrics")[3].decode()
    found = re.search(rf'lookslike_shed_total\{{reason="{reason}"\}} (\d+)', text)
    return float(found.group(1)) if found else 0.0


def test_overload_sheds_with_503_and_retry_after_while_healthz_answers(tmp_path):
    photo = multipart(read(val_photos()[0][1]))
    with held_server(tmp_path, threads=8, queue_ms=300, retry_after=2) as (port, events), \
            concurrent.futures.ThreadPoolExecutor(8) as pool:
        post = functools.partial(call, port, "POST", "/api/v1/match", *photo)
        first = pool.submit(post)
        assert events.next() == HOLDING  # a match in flight holds the only slot
        # The time per match is not known yet: each POST waits for the slot, and gets 503 at the bound.
        queued = list(pool.map(lambda _: post(), range(7)))
        assert [events.next() for _ in queued] == [WAITING] * 7
        assert call(port, "GET", "/healthz")[1] == 200  # a thread beyond the slot answers probes
        events.release()
        assert first.result()[1] == 200
        # That match held the slot longer than the bound (the 7 waited out theirs meanwhile): behind the
        # next match the expected wait passes the bound, so a POST is refused at once, without waiting.
        second = pool.submit(post)
        assert events.next() == HOLDING
        at_once = post()
        assert events.none_pending()
        events.release()
        assert second.result()[1] == 200
        shed_overloaded = shed(port, "overloaded")
    for _, status, headers, data in [*queued, at_once]:
        assert status == 503 and headers["Retry-After"] == "2", (status, data)
        assert json.loads(data)["error"] == "overloaded"
    assert shed_overloaded == 8


def test_posts_beyond_the_threads_get_503_from_the_worker_not_an_endless_queue(tmp_path):
    # 2 threads, a patient admission queue: gthread would queue the other POSTs in front of the
    # threads without bound; the buffering worker answers them 503 at once.
    photo = multipart(read(val_photos()[0][1]))
    with held_server(tmp_path, threads=2, queue_ms=600_000, retry_after=3) as (port, events), \
            concurrent.futures.ThreadPoolExecutor(2) as pool:
        post = functools.partial(call, port, "POST", "/api/v1/match", *photo)
        first = pool.submit(post)
        assert events.next() == HOLDING
        second = pool.submit(post)
        assert events.next() == WAITING  # both threads are busy: one holds the slot, one waits for it
        # Answered while neither thread can answer anything: by the worker's loop.
        refused = [post() for _ in range(4)]
        events.release()
        assert first.result()[1] == 200
        assert events.next() == HOLDING
        events.release()
        assert second.result()[1] == 200
        assert call(port, "GET", "/healthz")[1] == 200
        shed_overloaded = shed(port, "overloaded")
    for _, status, headers, data in refused:
        assert status == 503 and headers["Retry-After"] == "3" and json.loads(data)["error"] == "overloaded"
    assert shed_overloaded == len(refused)  # the loop's answers are counted too


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far, all its threads (exited ones too)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(any(k.endswith("_NUM_THREADS") for k in os.environ), reason="BLAS threads set by the caller")
def test_a_served_match_keeps_one_thread_busy(tmp_path, make_app):
    # With a gallery of thousands of rows (LFW's 10,196), the score's matrix-vector product woke
    # OpenBLAS's second thread, which then busy-waited beside every served match and burned the
    # other core (211 ms of CPU per 100 ms match). gunicorn's master loads NumPy (its worker class
    # imports it) before wsgi.py runs, so its configuration sets one BLAS thread first.
    from app.evaluation.synthetic import write_synthetic

    app = make_app()
    write_synthetic(app.extensions["lookslike"].gallery, str(tmp_path / "galleries"), "big", 12_000, app.config,
                    index=False)
    env = {"LOOKSLIKE_GALLERIES_DIR": str(tmp_path / "galleries"), "LOOKSLIKE_GALLERY": "big",
           "LOOKSLIKE_RUNTIME_THREADS_ALONE": "1"}  # FaceNet on one thread even when alone: one core's worth
    with gunicorn(tmp_path, env, "wsgi:app", workers=1, ready="/readyz") as (port, log, _):
        worker = int(re.findall(r"Booting worker with pid: (\d+)", log.read_text())[-1])
        bodies = [multipart(read(path)) for _, path in val_photos()[::3]]
        call(port, "POST", "/api/v1/match", *bodies[0])
        before, start = cpu_seconds(worker), time.monotonic()
        # The photos, again and again, for at least 2 s: CPU time comes in 10 ms ticks, which would blur
        # the ratio over the fraction of a second a fast machine takes for one round of them.
        while time.monotonic() - start < 2:
            assert all(call(port, "POST", "/api/v1/match", *body)[1] == 200 for body in bodies)
        wall, cpu = time.monotonic() - start, cpu_seconds(worker) - before
    # One request at a time: the worker can use at most one core's worth of CPU (a spinner doubled it).
    assert cpu <= 1.3 * wall, (cpu, wall)


def server_saw_hang_up(port: int, client_port: int) -> bool:
    """Whether the server's side of the connection from `client_port` has received the client's close
    (TCP state CLOSE_WAIT in /proc/net/tcp): from then on the server can tell that the client is gone."""
    with open("/proc/net/tcp") as f:
        rows = [line.split() for line in f.readlines()[1:]]
    return any(row[1].endswith(f":{port:04X}") and row[2].endswith(f":{client_port:04X}") and row[3] == "08"
               for row in rows)


def eventually(check: Callable[[], bool], seconds: float = 30) -> bool:
    """Whether `check` comes true within `seconds`: for a state of another process, which has no event
    to wait on (asked every 10 ms; the time bounds only how long a failure takes to report)."""
    end = time.monotonic() + seconds
    while not check():
        if time.monotonic() > end:
            return False
        time.sleep(0.01)
    return True


def test_work_of_a_client_that_hung_up_is_not_started(tmp_path):
    body, ctype = multipart(read(val_photos()[1][1]))
    with held_server(tmp_path, threads=4, queue_ms=600_000) as (port, events), \
            concurrent.futures.ThreadPoolExecutor(1) as pool:
        running = pool.submit(call, port, "POST", "/api/v1/match", body, ctype)
        assert events.next() == HOLDING  # a match in flight holds the only slot
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(f"POST /api/v1/match HTTP/1.1\r\nHost: x\r\nContent-Type: {ctype}\r\n"
                      f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            assert events.next() == WAITING  # its request is queued for the slot; now the client leaves
            client_port = s.getsockname()[1]
        assert eventually(lambda: server_saw_hang_up(port, client_port))
        events.release()
        assert running.result()[1] == 200
        assert eventually(lambda: shed(port, "client_gone") == 1)  # dropped once it got the slot ...
        assert events.none_pending()  # ... before its work started (it never held the slot for a match)


def test_request_past_its_deadline_is_abandoned_with_503(make_app):
    client = make_app(REQUEST_DEADLINE=0).test_client()
    resp = client.post("/api/v1/match", data={"photo": (open(val_photos()[0][1], "rb"), "p.jpg")})
    assert resp.status_code == 503 and resp.json["error"] == "deadline_exceeded"
    assert resp.headers["Retry-After"] == "1"


def test_page_gets_the_overload_error_page(make_app):
    app = make_app(QUEUE_TIMEOUT=0)
    slots = app.extensions["lookslike.slots"]
    assert slots.acquire(0)  # a match in flight holds the only slot
    try:
        resp = app.test_client().post("/match", data={"photo": (open(val_photos()[0][1], "rb"), "p.jpg")})
    finally:
        slots.release(0.1)
    assert resp.status_code == 503 and resp.headers["Retry-After"] == "1"
    assert "text/html" in resp.content_type and b"busy" in resp.data
    assert app.test_client().get("/healthz").status_code == 200

"""Overload: admission control (CPU slots, a bounded queue, 503 + Retry-After), deadlines, health under load."""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import os
import re
import socket
import threading
import time
import uuid

import pytest
from gunicorn_support import gunicorn

from conftest import read, val_photos


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


@pytest.fixture(scope="module")
def busy_server(tmp_path_factory):
    """One worker, one CPU slot, 8 threads and a 300 ms queue bound, serving the demo gallery."""
    env = {"GUNICORN_THREADS": "8", "LOOKSLIKE_CPU_SLOTS": "1", "LOOKSLIKE_QUEUE_TIMEOUT": "300",
           "LOOKSLIKE_GALLERY": "demo", "LOOKSLIKE_RETRY_AFTER": "2"}
    with gunicorn(tmp_path_factory.mktemp("busy"), env, "wsgi:app", workers=1, ready="/readyz") as (port, _, _):
        yield port


@pytest.fixture(scope="module")
def patient_server(tmp_path_factory):
    """One worker, one CPU slot, a 10 s queue bound: requests wait for the slot rather than being shed."""
    env = {"GUNICORN_THREADS": "4", "LOOKSLIKE_CPU_SLOTS": "1", "LOOKSLIKE_QUEUE_TIMEOUT": "10000",
           "LOOKSLIKE_GALLERY": "demo"}
    with gunicorn(tmp_path_factory.mktemp("patient"), env, "wsgi:app", workers=1, ready="/readyz") as (port, _, _):
        yield port


def test_overload_sheds_with_503_and_retry_after_while_healthz_answers(busy_server):
    port = busy_server
    body, ctype = multipart(read(val_photos()[0][1]))
    assert call(port, "POST", "/api/v1/match", body, ctype)[1] == 200  # warm, and the time per request is known
    health: list[tuple[float, int]] = []
    stop = threading.Event()

    def probe() -> None:
        while not stop.is_set():
            seconds, status, _, _ = call(port, "GET", "/healthz", timeout=5)
            health.append((seconds, status))
            time.sleep(0.05)
    prober = threading.Thread(target=probe)
    prober.start()
    try:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: call(port, "POST", "/api/v1/match", body, ctype), range(8)))
    finally:
        stop.set()
        prober.join()
    statuses = [status for _, status, _, _ in answers]
    assert 200 in statuses and 503 in statuses, statuses
    assert set(statuses) <= {200, 503}
    for _, status, headers, data in answers:
        if status == 503:
            assert headers["Retry-After"] == "2"
            assert json.loads(data)["error"] == "overloaded"
    fastest_503 = min(s for s, status, _, _ in answers if status == 503)
    assert fastest_503 < 1.0  # refused at once (expected wait) or at the 300 ms bound, never after a match
    assert health and all(status == 200 for _, status in health)
    assert max(seconds for seconds, _ in health) < 1.0, health  # threads beyond the slot answer probes
    metrics = call(port, "GET", "/metrics")[3].decode()
    shed = re.search(r'lookslike_shed_total\{reason="overloaded"\} (\d+)', metrics)
    assert shed and float(shed.group(1)) >= statuses.count(503)


def test_posts_beyond_the_threads_get_503_from_the_worker_not_an_endless_queue(tmp_path):
    # 2 threads, a patient admission queue: gthread would queue the other POSTs in front of the
    # threads without bound; the buffering worker answers them 503 at once.
    env = {"GUNICORN_THREADS": "2", "LOOKSLIKE_CPU_SLOTS": "1", "LOOKSLIKE_QUEUE_TIMEOUT": "10000",
           "LOOKSLIKE_GALLERY": "demo", "LOOKSLIKE_RETRY_AFTER": "3"}
    with gunicorn(tmp_path, env, "wsgi:app", workers=1, ready="/readyz") as (port, _, _):
        body, ctype = multipart(read(val_photos()[0][1]))
        assert call(port, "POST", "/api/v1/match", body, ctype)[1] == 200
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(lambda _: call(port, "POST", "/api/v1/match", body, ctype), range(6)))
        assert call(port, "GET", "/healthz")[1] == 200
        metrics = call(port, "GET", "/metrics")[3].decode()
    statuses = sorted(status for _, status, _, _ in answers)
    assert statuses.count(200) >= 2 and statuses.count(503) >= 2 and set(statuses) == {200, 503}, statuses
    for seconds, status, headers, data in answers:
        if status == 503:
            assert headers["Retry-After"] == "3" and json.loads(data)["error"] == "overloaded"
            assert seconds < 0.5  # from the loop, at once
    shed = re.search(r'lookslike_shed_total\{reason="overloaded"\} (\d+)', metrics)
    assert shed and float(shed.group(1)) == statuses.count(503)  # the loop's answers are counted too


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far, all its threads (exited ones too)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(any(k.endswith("_NUM_THREADS") for k in os.environ), reason="BLAS threads set by the caller")
def test_a_served_match_keeps_one_thread_busy(tmp_path, make_app):
    # With a gallery of thousands of rows (LFW's 10,196), the score's matrix-vector product woke
    # OpenBLAS's second thread, which then busy-waited beside every served match and burned the
    # other core (211 ms of CPU per 100 ms match) until wsgi.py set one BLAS thread.
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
        assert all(call(port, "POST", "/api/v1/match", *body)[1] == 200 for body in bodies)
        wall, cpu = time.monotonic() - start, cpu_seconds(worker) - before
    # One request at a time: the worker can use at most one core's worth of CPU (a spinner doubled it).
    assert cpu <= 1.3 * wall, (cpu, wall)


def test_work_of_a_client_that_hung_up_is_not_started(patient_server):
    port = patient_server
    body, ctype = multipart(read(val_photos()[1][1]))
    before = call(port, "GET", "/metrics")[3].decode()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        running = pool.submit(call, port, "POST", "/api/v1/match", body, ctype)
        time.sleep(0.05)
        with socket.create_connection(("127.0.0.1", port)) as s:  # waits behind the running match, then leaves
            s.sendall(f"POST /api/v1/match HTTP/1.1\r\nHost: x\r\nContent-Type: {ctype}\r\n"
                      f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            time.sleep(0.02)
        assert running.result()[1] == 200
    time.sleep(0.5)
    after = call(port, "GET", "/metrics")[3].decode()

    def gone(text: str) -> float:
        found = re.search(r'lookslike_shed_total\{reason="client_gone"\} (\d+)', text)
        return float(found.group(1)) if found else 0.0
    assert gone(after) == gone(before) + 1


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

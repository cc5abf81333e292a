"""A real gunicorn (wsgi.py, networks loaded, ports 8120-8129): slow clients and graceful reloads.

One server for the module, on a gallery in a tmp folder: 64 slow connections must not keep a
normal client from its answer (while they are all still being read); a new version of the served
gallery published under the running server changes nothing it answers until `kill -HUP` of the
master, after which /readyz reports it.
Marked slow (`make test-slow`); tests/http/test_gunicorn_raw.py checks the slow clients in the
default suite on a server without the networks.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import urllib.request

import numpy as np
import pytest
from gunicorn_support import gunicorn

from app.pipeline.builders.version_files import identity_table
from app.pipeline.galleries import store
from app.pipeline.galleries.reader import Gallery, thumb_path
from conftest import ROOT, read, trickle, val_photos

pytestmark = pytest.mark.slow  # loads the networks in gunicorn twice (start and HUP): minutes
PORTS = range(8120, 8130)
DEMO_GALLERY = os.path.join(ROOT, "instance", "galleries", "demo")


def publish_rows(galleries: str, name: str, source: Gallery, rows: np.ndarray) -> str:
    """Publish a version of `name` holding these rows of `source` (in this order); its folder."""
    version = store.new_version(galleries, name)
    for new, old in enumerate(rows):
        store.link_or_copy(source.thumb_path(int(old)), thumb_path(version, new))
    meta = {key: value[rows] for key, value in source.row_metadata().items()}
    table, labels = identity_table(source.identity_table, source.labels[rows], meta)  # portraits of these rows
    store.write_version(version, source.embeddings[rows], labels, table, meta,
                        dict(source.manifest, rows=len(rows), identities=len(table)), source.resemblance_reference())
    return store.publish(galleries, name, version)


def get(port: int, path: str, timeout: float = 10) -> tuple[int, bytes]:
    """Status and body of a GET (error statuses too)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def match(port: int, photo: bytes) -> dict:
    """POST /api/v1/match with a photo as multipart; the JSON answer."""
    boundary = "b0undary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"p.jpg\"\r\n\r\n").encode() \
        + photo + f"\r\n--{boundary}--\r\n".encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/match", data=body, method="POST",
                                 headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())


def wait_ready(port: int, proc: subprocess.Popen, log, rows: int | None = None, seconds: float = 300) -> dict:
    """/readyz once it answers 200 (with `rows` gallery rows, when given)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail("gunicorn exited:\n" + log.read_text()[-3000:])
        try:
            status, body = get(port, "/readyz", timeout=5)
            if status == 200 and (rows is None or json.loads(body)["gallery_rows"] == rows):
                return json.loads(body)
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail("gunicorn not ready:\n" + log.read_text()[-3000:])


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """gunicorn (1 worker, 4 threads, wsgi.py) serving gallery "g", a full copy of the demo gallery."""
    tmp = tmp_path_factory.mktemp("served")
    galleries = str(tmp / "galleries")
    demo = Gallery.load(DEMO_GALLERY)
    publish_rows(galleries, "g", demo, np.arange(len(demo)))
    env = {"GUNICORN_THREADS": "4", "LOOKSLIKE_GALLERIES_DIR": galleries, "LOOKSLIKE_GALLERY": "g",
           "LOOKSLIKE_BODY_TIMEOUT": "600"}  # the slow clients are never cut off during the test
    with gunicorn(tmp, env, "wsgi:app", workers=1, ready="/readyz", ports=PORTS) as (port, log, proc):
        yield {"port": port, "proc": proc, "log": log, "galleries": galleries, "demo": demo}


def test_64_slow_clients_do_not_keep_a_normal_client_waiting(served):
    port, photo = served["port"], read(val_photos()[0][1])
    stop, sent = threading.Event(), [threading.Event() for _ in range(64)]
    slow_headers = b"POST /api/v1/match HTTP/1.1\r\nHost: t\r\nX-Slow: "  # headers never finished
    slow_body = (b"POST /api/v1/match HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 9000\r\n\r\n{")
    threads = [threading.Thread(target=trickle, args=(port, slow_headers if i % 2 else slow_body, stop),
                                kwargs={"sent": sent[i]}, daemon=True) for i in range(64)]
    for t in threads:
        t.start()
    try:
        assert all(event.wait(60) for event in sent)  # every slow client connected and sent its first bytes
        status, _ = get(port, "/readyz")
        assert status == 200
        assert match(port, photo)["matches"]
        # ... answered while every slow client still held its socket: none was cut off (BODY_TIMEOUT).
        metrics = get(port, "/metrics")[1].decode()
        assert all(t.is_alive() for t in threads) and 'lookslike_http_rejected_total{status="408"}' not in metrics
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=10)


def test_new_version_is_served_only_after_a_graceful_reload(served):
    port, galleries, demo = served["port"], served["galleries"], served["demo"]
    old = Gallery.load(os.path.join(galleries, "g"))
    photo = read(val_photos()[3][1])
    before = match(port, photo)
    fewer = np.arange(len(demo))[::-1][:40]  # the new version: 40 rows, in another order
    publish_rows(galleries, "g", demo, fewer)
    assert len(Gallery.load(os.path.join(galleries, "g"))) == 40

    assert json.loads(get(port, "/readyz")[1])["gallery_rows"] == len(old)
    after = match(port, photo)
    assert after["matches"] == before["matches"]  # rows, names and thumbnails of the old version
    for m in after["matches"]:
        row = int(m["image_url"].rsplit("/", 1)[1].split(".")[0])
        assert old.identities[old.labels[row]] == m["identity"]
        assert get(port, m["image_url"])[1] == open(old.thumb_path(row), "rb").read()
    assert get(port, f"/gallery/g/{old.version}/{len(old) - 1}.jpg")[0] == 200  # the old version's, still here

    os.kill(served["proc"].pid, signal.SIGHUP)
    ready = wait_ready(port, served["proc"], served["log"], rows=40, seconds=240)
    assert ready["gallery_rows"] == 40
    new = Gallery.load(os.path.join(galleries, "g"))
    assert get(port, f"/gallery/g/{new.version}/{len(old) - 1}.jpg")[0] == 404  # past the new version's rows
    assert get(port, f"/gallery/g/{old.version}/{len(old) - 1}.jpg")[0] == 200  # a page of before still shows it
    for m in match(port, photo)["matches"]:
        row = int(m["image_url"].rsplit("/", 1)[1].split(".")[0])
        assert demo.identities[demo.labels[fewer[row]]] == m["identity"]

"""Gallery artifacts for the tests: small galleries made from the demo one, and a local HTTP server that serves
artifacts with ETag, HEAD and Range, and can hold a download until the test releases it (ports 8750-8769)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from app.config import DEFAULTS
from app.pipeline.builders.artifact_export import export_gallery, served_model
from app.pipeline.builders.removal import write_without
from app.pipeline.galleries import store
from app.pipeline.galleries.reader import Gallery
from conftest import ROOT

PORTS = range(8750, 8770)
DEMO_GALLERY = os.path.join(ROOT, "instance", "galleries", "demo")
WEIGHTS = os.path.join(ROOT, "instance", "weights", "facenet_keras.weights.h5")


def demo() -> Gallery:
    """The demo gallery (5 people, 86 faces)."""
    return Gallery.load(DEMO_GALLERY)


def publish_people(galleries: str, name: str, people: list[str]) -> Gallery:
    """Publish a new version of gallery `name` holding only these identities of the demo gallery (portraits,
    resemblance and thumbnails recomputed by the removal code); the published gallery."""
    source = demo()
    out = [k for k, identity in enumerate(source.identities) if identity not in people]
    version = store.new_version(galleries, name)
    write_without(source, out, version, DEFAULTS)
    store.publish(galleries, name, version)
    return Gallery.load(os.path.join(galleries, name))


def export(galleries: str, name: str, out: str, extras: str | None = None) -> dict:
    """Export gallery `name` to `out` (calibration and models from `extras`, when given); artifact.json."""
    extras = extras or os.path.join(os.path.dirname(out), "no-extras")
    return export_gallery(galleries, name, out, WEIGHTS, os.path.join(extras, "calibration"),
                          os.path.join(extras, "models"))


def this_server() -> dict:
    """The embedding model this checkout serves (the ONNX FaceNet, default settings)."""
    return served_model(WEIGHTS, "onnx", DEFAULTS)


def snapshot(root: str) -> dict[str, str]:
    """Every path under root with the sha256 of its content (a link: its target), to show nothing changed."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if os.path.islink(path):
                found[rel] = "-> " + os.readlink(path)
            elif os.path.isfile(path):
                with open(path, "rb") as f:
                    found[rel] = hashlib.sha256(f.read()).hexdigest()
            else:
                found[rel] = "dir"
    return found


def rewrite_tar(src: str, dst: str, change) -> None:
    """Copy a tar member by member, `change(info, data) -> (info, data) or None` deciding each one."""
    with tarfile.open(src) as tin, tarfile.open(dst, "w", format=tarfile.PAX_FORMAT) as tout:
        for info in tin.getmembers():
            data = tin.extractfile(info).read() if info.isreg() else b""
            changed = change(info, data)
            if changed is not None:
                info, data = changed
                info.size = len(data) if info.isreg() else 0
                tout.addfile(info, _bytes(data) if info.isreg() else None)


def _bytes(data: bytes):
    import io

    return io.BytesIO(data)


class ArtifactServer(ThreadingHTTPServer):
    """Serves `files` (path -> bytes) with ETag and Range; GETs wait while `hold` is clear."""

    daemon_threads = True

    def __init__(self, address):
        super().__init__(address, ArtifactHandler)
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, Range header)
        self.hold = threading.Event()
        self.hold.set()
        self.etag = True  # send an ETag (else neither it nor Last-Modified)
        self.cut_next: int | None = None  # the next GET sends only this many bytes, then hangs up

    def url(self, path: str) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}{path}"

    def count(self, method: str) -> int:
        return sum(1 for m, _, _ in self.requests if m == method)


class ArtifactHandler(BaseHTTPRequestHandler):
    """HEAD and GET (whole, or `Range: bytes=N-`) with a strong ETag of the content."""

    server: ArtifactServer

    def log_message(self, format: str, *args) -> None:
        """Quiet."""

    def _head(self, status: int, data: bytes, start: int = 0) -> None:
        self.send_response(status)
        if self.server.etag:
            self.send_header("ETag", '"' + hashlib.sha256(data).hexdigest()[:20] + '"')
        self.send_header("Content-Length", str(len(data) - start))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()

    def do_HEAD(self) -> None:
        self.server.requests.append(("HEAD", self.path, None))
        data = self.server.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        self._head(200, data)

    def do_GET(self) -> None:
        self.server.requests.append(("GET", self.path, self.headers.get("Range")))
        self.server.hold.wait(60)
        data = self.server.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        asked = self.headers.get("Range")
        start = int(asked.removeprefix("bytes=").partition("-")[0]) if asked else 0
        self._head(206 if asked else 200, data, start)
        body, cut = data[start:], self.server.cut_next
        if cut is not None:
            self.server.cut_next, body, self.close_connection = None, body[:cut], True
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)


@contextlib.contextmanager
def artifact_server() -> Iterator[ArtifactServer]:
    """A running ArtifactServer on the first free port of 8750-8769."""
    for port in PORTS:
        try:
            srv = ArtifactServer(("127.0.0.1", port))
            break
        except OSError:
            continue
    else:
        raise RuntimeError("no free port in 8750-8769")
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.hold.set()
        srv.shutdown()
        srv.server_close()
        thread.join(5)


def read_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def thumbs_equal(a: Gallery, b: Gallery) -> bool:
    """Every row's thumbnail has the same bytes in both galleries."""
    return len(a) == len(b) and all(read_bytes(a.thumb_path(r)) == read_bytes(b.thumb_path(r)) for r in range(len(a)))


def same_rows(a: Gallery, b: Gallery) -> bool:
    """Same embeddings, labels and identity table (names, portraits, attributes)."""
    return np.array_equal(np.asarray(a.embeddings), np.asarray(b.embeddings)) and \
        np.array_equal(a.labels, b.labels) and a.identity_table == b.identity_table

"""Fixtures for the dataset tests: a small LFW-like .tgz and a local HTTP server with Range support."""

from __future__ import annotations

import hashlib
import io
import os
import random
import socket
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

PORTS = range(8201, 8210)
PEOPLE = {"AJ_Cook": 2, "Aaron_Guiel": 1, "Zico": 3}


def jpeg(seed: int) -> bytes:
    """A small noisy JPEG (noise keeps it from compressing to nothing)."""
    rng = random.Random(seed)
    img = Image.frombytes("RGB", (48, 48), rng.randbytes(48 * 48 * 3))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def lfw_tree(root: str) -> dict[str, bytes]:
    """Write lfw/<Person>/<Person>_NNNN.jpg under root; {relative path: bytes}."""
    files = {}
    for p, (person, count) in enumerate(sorted(PEOPLE.items())):
        for i in range(1, count + 1):
            rel = f"lfw/{person}/{person}_{i:04d}.jpg"
            files[rel] = jpeg(p * 100 + i)
            os.makedirs(os.path.join(root, "lfw", person), exist_ok=True)
            with open(os.path.join(root, rel), "wb") as f:
                f.write(files[rel])
    return files


@dataclass
class Archive:
    """A tar archive on disk with its bytes, sha256 and member contents."""

    path: str
    data: bytes
    sha256: str
    files: dict[str, bytes]


def make_archive(tmp_path, compression: str = "gz", name: str = "lfw.tgz") -> Archive:
    """Build an LFW-like tar (compression '', 'gz', 'bz2' or 'xz') from generated JPEGs."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    src = tmp_path / f"src-{name}"
    files = lfw_tree(str(src))
    path = str(tmp_path / name)
    with tarfile.open(path, f"w:{compression}") as tar:
        tar.add(str(src / "lfw"), arcname="lfw")
    with open(path, "rb") as f:
        data = f.read()
    return Archive(path, data, hashlib.sha256(data).hexdigest(), files)


@pytest.fixture
def lfw_tgz(tmp_path) -> Archive:
    """A gzipped LFW-like archive in tmp_path/archive: 3 people, 6 photos."""
    return make_archive(tmp_path / "archive")


class FileServer(ThreadingHTTPServer):
    """Serves `files` by path, honours `Range: bytes=N-`, logs requests, can cut a body short."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, RangeHandler)
        self.files: dict[str, bytes] = {}
        self.requests: list[dict] = []
        self.cut_after: int | None = None  # send only this many body bytes, then hang up
        self.ignore_range = False  # answer 200 with the whole file even to a Range request

    def url(self, path: str) -> str:
        """Full URL of a served path."""
        host, port = self.server_address[:2]
        return f"http://{host}:{port}{path}"


class RangeHandler(BaseHTTPRequestHandler):
    """GET with optional single open-ended or closed byte range."""

    server: FileServer

    def log_message(self, format: str, *args) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        """Answer 200, 206, 404 or 416, recording what was asked and answered."""
        asked = self.headers.get("Range")
        record = {"path": self.path, "range": asked}
        self.server.requests.append(record)
        data = self.server.files.get(self.path)
        if data is None:
            record["status"] = 404
            self.send_error(404)
            return
        start, end = 0, len(data) - 1
        status = 200
        if asked and not self.server.ignore_range:
            first, _, last = asked.removeprefix("bytes=").partition("-")
            start = int(first)
            end = min(int(last), end) if last else end
            status = 206
            if start >= len(data):
                record["status"] = 416
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        body = data[start:end + 1]
        record["status"] = status
        self.send_response(status)
        self.send_header("Content-Type", "application/gzip")
        self.send_header("Content-Length", str(len(body)))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.end_headers()
        if self.server.cut_after is not None:
            body = body[:self.server.cut_after]
            self.close_connection = True
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass


def bind_local(make):
    """make(address) on the first free 127.0.0.1 port in 8201-8209, else on port 0."""
    for port in [*PORTS, 0]:
        try:
            return make(("127.0.0.1", port))
        except OSError:
            continue
    raise RuntimeError("no free local port")


@pytest.fixture
def server() -> Iterator[FileServer]:
    """A running FileServer on 127.0.0.1."""
    srv = bind_local(FileServer)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(5)


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A URL whose port is bound but not listening: connecting is refused at once."""

    def bound(address: tuple[str, int]) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind(address)
        except OSError:
            sock.close()
            raise
        return sock

    sock = bind_local(bound)
    host, port = sock.getsockname()
    yield f"http://{host}:{port}/lfw.tgz"
    sock.close()


def all_paths(root) -> set[str]:
    """Every path (file, folder, link) under root, relative to it."""
    out = set()
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            out.add(os.path.relpath(os.path.join(dirpath, name), root))
    return out


@pytest.fixture(name="all_paths")
def all_paths_fixture():
    """The all_paths helper, for tests."""
    return all_paths


@pytest.fixture(name="make_archive")
def make_archive_fixture():
    """The make_archive helper, for tests."""
    return make_archive

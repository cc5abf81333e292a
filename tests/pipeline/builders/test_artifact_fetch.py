"""Artifacts at a URL (a local server, ports 8750-8779): fetched with bounded retries and backoff, resumed,
imported only when the URL's ETag (or content) changed, refused with nothing changed when pinned otherwise."""

from __future__ import annotations

import os
import socket

import pytest
from artifact_support import artifact_server, demo, export, publish_people, read_bytes, same_rows, this_server

from app.config import DEFAULTS
from app.datasets.download import ChecksumError
from app.pipeline.builders.artifact_fetch import DOWNLOADS_DIR, FetchError, GallerySource, Retry, sync_gallery
from app.pipeline.galleries.artifact import file_sha256
from app.pipeline.galleries.reader import Gallery


class Sleeps(list):
    """A Retry's sleep that only records the waits asked for."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def source_for(url: str, root, sleeps: Sleeps | None = None, **options) -> GallerySource:
    """Where a server at root would fetch its gallery: `url`, a few quick attempts."""
    retry = Retry(attempts=options.pop("attempts", 3), first_delay=1.0, max_delay=options.pop("max_delay", 60.0),
                  sleep=sleeps if sleeps is not None else Sleeps())
    return GallerySource(url=url, galleries=str(root / "galleries"), calibration_dir=str(root / "calibration"),
                         models_dir=str(root / "models"), served_model=this_server, config=DEFAULTS, retry=retry,
                         **options)


@pytest.fixture()
def artifacts(tmp_path):
    """Two artifacts of gallery "g": version 1 (three people), then version 2 (all five)."""
    galleries = str(tmp_path / "origin")
    publish_people(galleries, "g", ["madonna", "elton_john", "jerry_seinfeld"])
    export(galleries, "g", str(tmp_path / "v1.tar"))
    publish_people(galleries, "g", demo().identities)
    export(galleries, "g", str(tmp_path / "v2.tar"))
    return read_bytes(str(tmp_path / "v1.tar")), read_bytes(str(tmp_path / "v2.tar"))


@pytest.fixture()
def refused_url():
    """A URL whose port is bound but not listening: every connection is refused at once."""
    for port in range(8770, 8780):
        sock = socket.socket()
        try:
            sock.bind(("127.0.0.1", port))
            break
        except OSError:
            sock.close()
    else:
        pytest.skip("no free port in 8770-8779")
    yield f"http://127.0.0.1:{port}/g.tar"
    sock.close()


def test_unreachable_url_fails_after_bounded_retries_with_backoff(refused_url, tmp_path):
    sleeps = Sleeps()
    with pytest.raises(FetchError, match=f"gallery URL {refused_url} could not be fetched after 4 attempts"):
        sync_gallery(source_for(refused_url, tmp_path, sleeps, attempts=4, max_delay=3.0))
    assert sleeps == [1.0, 2.0, 3.0]  # doubling, capped
    assert not os.path.lexists(tmp_path / "galleries" / "g")


def test_slow_url_times_out_and_fails_clearly(artifacts, tmp_path):
    with artifact_server() as server:
        server.files["/g.tar"] = artifacts[0]
        server.hold.clear()  # the server answers HEAD, then never sends the artifact
        with pytest.raises(FetchError, match="after 2 attempts.*timed out"):
            sync_gallery(source_for(server.url("/g.tar"), tmp_path, attempts=2, timeout=0.3))
        assert server.count("GET") == 2
    assert os.listdir(tmp_path / "galleries" / DOWNLOADS_DIR) == []


def test_sync_imports_once_then_only_a_new_version(artifacts, tmp_path):
    v1, v2 = artifacts
    with artifact_server() as server:
        server.files["/g.tar"] = v1
        source = source_for(server.url("/g.tar"), tmp_path)
        first = sync_gallery(source)
        served = Gallery.load(str(tmp_path / "galleries" / "g"))
        assert first.changed and first.name == "g" and served.version == first.version and len(served.identities) == 3
        assert not sync_gallery(source).changed and server.count("GET") == 1  # same ETag: nothing downloaded

        server.files["/g.tar"] = v2
        second = sync_gallery(source)
        assert second.changed and second.version != first.version
        assert same_rows(Gallery.load(str(tmp_path / "galleries" / "g")), Gallery.load(second.imported.path))
        assert len(Gallery.load(str(tmp_path / "galleries" / "g")).identities) == 5
        assert os.listdir(tmp_path / "galleries" / DOWNLOADS_DIR) == []


def test_without_etag_the_download_is_compared(artifacts, tmp_path):
    with artifact_server() as server:
        server.etag = False
        server.files["/g.tar"] = artifacts[0]
        source = source_for(server.url("/g.tar"), tmp_path)
        assert sync_gallery(source).changed
        assert not sync_gallery(source).changed and server.count("GET") == 2


def test_an_interrupted_download_resumes(artifacts, tmp_path):
    with artifact_server() as server:
        server.files["/g.tar"] = artifacts[0]
        server.cut_next = len(artifacts[0]) // 2
        sleeps = Sleeps()
        result = sync_gallery(source_for(server.url("/g.tar"), tmp_path, sleeps))
        gets = [r for r in server.requests if r[0] == "GET"]
        assert result.changed and sleeps == [1.0]
        assert [r[2] for r in gets] == [None, f"bytes={len(artifacts[0]) // 2}-"]  # the second picks up mid-way


def test_pinned_sha256_refuses_another_artifact_and_keeps_the_served_one(artifacts, tmp_path):
    v1, v2 = artifacts
    with artifact_server() as server:
        server.files["/g.tar"] = v1
        pin = file_sha256(str(tmp_path / "v1.tar"))
        first = sync_gallery(source_for(server.url("/g.tar"), tmp_path, sha256=pin))
        server.files["/g.tar"] = v2  # a new version, but the pin says v1
        with pytest.raises(ChecksumError, match=f"expected {pin}"):
            sync_gallery(source_for(server.url("/g.tar"), tmp_path, sha256=pin))
    assert Gallery.load(str(tmp_path / "galleries" / "g")).version == first.version
    assert os.listdir(tmp_path / "galleries" / DOWNLOADS_DIR) == []

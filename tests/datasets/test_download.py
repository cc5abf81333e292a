"""download(): end to end against a real local HTTP server, resume, checksum, offline."""

from __future__ import annotations

import os
import time

import pytest

from app.datasets.download import ChecksumError, DownloadError, download, sha256_file


@pytest.fixture
def served(server, lfw_tgz):
    """The server with the archive at /lfw.tgz; (server, archive, url)."""
    server.files["/lfw.tgz"] = lfw_tgz.data
    return server, lfw_tgz, server.url("/lfw.tgz")


def read(path) -> bytes:
    """File bytes."""
    with open(path, "rb") as f:
        return f.read()


def test_sha256_file(lfw_tgz):
    assert sha256_file(lfw_tgz.path) == lfw_tgz.sha256


def test_download_end_to_end(served, tmp_path, capsys):
    server, archive, url = served
    dest = tmp_path / "dl" / "lfw.tgz"
    assert download(url, str(dest), archive.sha256.upper(), progress=True) == str(dest)
    assert read(dest) == archive.data
    assert os.listdir(dest.parent) == ["lfw.tgz"]  # no .part left
    assert server.requests == [{"path": "/lfw.tgz", "range": None, "status": 200}]
    assert "lfw.tgz" in capsys.readouterr().err  # the tqdm bar


def test_present_file_with_right_checksum_is_not_downloaded_again(served, tmp_path):
    server, archive, url = served
    dest = str(tmp_path / "lfw.tgz")
    download(url, dest, archive.sha256, progress=False)
    download(url, dest, archive.sha256, progress=False)
    assert len(server.requests) == 1


def test_wrong_checksum_is_refused_and_nothing_left(served, tmp_path):
    _, archive, url = served
    dl = tmp_path / "dl"
    with pytest.raises(ChecksumError) as err:
        download(url, str(dl / "lfw.tgz"), "0" * 64, progress=False)
    assert url in str(err.value) and archive.sha256 in str(err.value)
    assert os.listdir(dl) == []


def test_interrupted_download_resumes_with_range(served, tmp_path):
    server, archive, url = served
    dest = tmp_path / "lfw.tgz"
    half = len(archive.data) // 2
    server.cut_after = half
    with pytest.raises(DownloadError, match="interrupted|stopped") as err:
        download(url, str(dest), archive.sha256, progress=False)
    assert url in str(err.value) and "resume" in str(err.value)
    assert not dest.exists()
    assert read(f"{dest}.part") == archive.data[:half]

    server.cut_after = None
    download(url, str(dest), archive.sha256, progress=False)
    assert server.requests[-1] == {"path": "/lfw.tgz", "range": f"bytes={half}-", "status": 206}
    assert read(dest) == archive.data
    assert not os.path.exists(f"{dest}.part")


def test_server_ignoring_range_restarts_from_zero(served, tmp_path):
    server, archive, url = served
    dest = tmp_path / "lfw.tgz"
    (tmp_path / "lfw.tgz.part").write_bytes(b"stale bytes of some other file")
    server.ignore_range = True
    download(url, str(dest), archive.sha256, progress=False)
    assert server.requests[-1]["range"] == "bytes=30-"
    assert server.requests[-1]["status"] == 200
    assert read(dest) == archive.data


def test_complete_part_file_gets_416_and_is_verified(served, tmp_path):
    server, archive, url = served
    dest = tmp_path / "lfw.tgz"
    (tmp_path / "lfw.tgz.part").write_bytes(archive.data)
    download(url, str(dest), archive.sha256, progress=False)
    assert server.requests == [{"path": "/lfw.tgz", "range": f"bytes={len(archive.data)}-",
                                "status": 416}]
    assert read(dest) == archive.data
    assert not (tmp_path / "lfw.tgz.part").exists()


def test_bad_full_part_file_is_deleted(served, tmp_path):
    _, archive, url = served
    dest = tmp_path / "dl" / "lfw.tgz"
    dest.parent.mkdir()
    (dest.parent / "lfw.tgz.part").write_bytes(b"x" * len(archive.data))
    with pytest.raises(ChecksumError):
        download(url, str(dest), archive.sha256, progress=False)
    assert os.listdir(dest.parent) == []


def test_http_error_names_url_and_leaves_nothing(served, tmp_path):
    server, archive, _ = served
    url = server.url("/missing.tgz")
    with pytest.raises(DownloadError) as err:
        download(url, str(tmp_path / "dl" / "x.tgz"), archive.sha256, progress=False)
    assert url in str(err.value) and "404" in str(err.value) and "--from FILE" in str(err.value)
    assert os.listdir(tmp_path / "dl") == []


def test_connection_refused_fails_at_once(refused_url, tmp_path):
    start = time.monotonic()
    with pytest.raises(DownloadError) as err:
        download(refused_url, str(tmp_path / "dl" / "lfw.tgz"), "0" * 64, progress=False,
                 timeout=30)
    assert time.monotonic() - start < 5
    message = str(err.value)
    assert refused_url in message and "--from FILE" in message
    assert os.listdir(tmp_path / "dl") == []

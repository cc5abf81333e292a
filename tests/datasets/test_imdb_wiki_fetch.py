"""Fetching IMDB-WIKI archives from a real local HTTP server: pairing, space check, resume,
offline failure, sha256 record and pin, safe extraction and the structure check."""

from __future__ import annotations

import json
import os
import socket

import pytest

from app.datasets.download import ChecksumError, DownloadError
from app.datasets.imdb_wiki import IMDB, WIKI, StructureError, read_metadata, select
from app.datasets.imdb_wiki_fetch import DiskSpaceError, fetch_imdb_wiki, plan_sources, remote_size

from .imdb_wiki_fixture import write_crop_tar

PORTS = range(8550, 8600)
PLENTY = lambda _path: 1 << 50  # noqa: E731  a disk that always has room


@pytest.fixture
def refused():
    """A URL on a port of 8550-8599 that is bound but not listening: connections are refused."""
    for port in PORTS:
        sock = socket.socket()
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            sock.close()
            continue
        yield f"http://127.0.0.1:{port}/static/wiki_crop.tar"
        sock.close()
        return
    pytest.skip(f"no free port in {PORTS.start}-{PORTS.stop - 1}")


@pytest.fixture(scope="module")
def tars(tmp_path_factory):
    """{'wiki': CropTar, 'imdb': CropTar} written once for the module."""
    root = str(tmp_path_factory.mktemp("tars"))
    return {"wiki": write_crop_tar(root, "wiki"), "imdb": write_crop_tar(root, "imdb")}


@pytest.fixture
def served(server, tars):
    """The server with both archives; (server, {'wiki': url, 'imdb': url})."""
    urls = {}
    for source, tar in tars.items():
        server.files[f"/static/{source}_crop.tar"] = tar.data
        urls[source] = server.url(f"/static/{source}_crop.tar")
    return server, urls


def test_plan_sources_pairs_by_position_imdb_first():
    plan = plan_sources("both", ["http://x/i.tar", "http://x/w.tar"], [], ["A" * 64, "b" * 64])
    assert [(s.archive, s.url, s.from_file, s.sha256) for s in plan] == [
        (IMDB, "http://x/i.tar", None, "a" * 64), (WIKI, "http://x/w.tar", None, "b" * 64)]
    assert [(s.archive, s.url) for s in plan_sources("wiki")] == [(WIKI, WIKI.url)]
    assert plan_sources("imdb", froms=["/d/imdb_crop.tar"])[0].from_file == "/d/imdb_crop.tar"


@pytest.mark.parametrize("args, message", [
    (("both", ["u"], [], []), "--url given 1 times, but --subset both names 2 archive"),
    (("wiki", [], ["a", "b"], []), "--from given 2 times"),
    (("imdb", [], [], ["ab" * 31]), "is not 64 hexadecimal digits"),
    (("all", [], [], []), "--subset must be one of imdb, wiki, both"),
])
def test_plan_sources_refuses_mismatches(args, message):
    with pytest.raises(ValueError, match=message):
        plan_sources(*args)


def test_fetch_both_records_sha256_and_unpacks(served, tars, tmp_path, capsys):
    server, urls = served
    root = str(tmp_path / "data")
    fetched = fetch_imdb_wiki(root, "both", [urls["imdb"], urls["wiki"]], disk_free=PLENTY)
    assert [(f.archive, f.sha256, f.origin) for f in fetched] == [
        (IMDB, tars["imdb"].sha256, urls["imdb"]), (WIKI, tars["wiki"].sha256, urls["wiki"])]
    wiki = fetched[1]
    assert wiki.crop_dir == os.path.join(root, "wiki_crop") and os.path.isfile(wiki.mat_path)
    kept, report = select(read_metadata(wiki.mat_path, "wiki"), wiki.crop_dir)
    assert report.dropped["missing_file"] == 1 and len(kept) == 13
    with open(os.path.join(root, "wiki_crop.tar.source.json")) as f:
        assert json.load(f) == {"filename": "wiki_crop.tar", "sha256": tars["wiki"].sha256, "origin": urls["wiki"]}
    assert "wiki_crop.tar" in capsys.readouterr().err  # progress bars
    server.requests.clear()
    again = fetch_imdb_wiki(root, "both", [urls["imdb"], urls["wiki"]], disk_free=PLENTY)
    assert [f.sha256 for f in again] == [f.sha256 for f in fetched] and server.requests == []


def test_interrupted_download_resumes(served, tars, tmp_path):
    server, urls = served
    root = str(tmp_path / "data")
    server.cut_after = len(tars["wiki"].data) // 3
    with pytest.raises(DownloadError, match="run the same command again to resume"):
        fetch_imdb_wiki(root, "wiki", [urls["wiki"]], progress=False, disk_free=PLENTY)
    assert os.path.getsize(os.path.join(root, "wiki_crop.tar.part")) == server.cut_after
    server.cut_after, asked = None, len(server.requests)
    fetched = fetch_imdb_wiki(root, "wiki", [urls["wiki"]], progress=False, disk_free=PLENTY)
    ranges = [r["range"] for r in server.requests[asked:]]
    assert ranges == ["bytes=0-0", f"bytes={len(tars['wiki'].data) // 3}-"]  # size probe, then resume
    assert fetched[0].sha256 == tars["wiki"].sha256 and os.path.isfile(fetched[0].mat_path)


def test_offline_fails_at_once_naming_url_and_from(refused, tmp_path):
    with pytest.raises(DownloadError) as err:
        fetch_imdb_wiki(str(tmp_path), "wiki", [refused], progress=False)
    assert refused in str(err.value) and "--from FILE" in str(err.value)
    assert os.listdir(tmp_path) == []  # nothing downloaded, nothing written


def test_pinned_sha256_mismatch_is_refused(served, tars, tmp_path):
    _, urls = served
    with pytest.raises(ChecksumError, match=tars["wiki"].sha256):
        fetch_imdb_wiki(str(tmp_path), "wiki", [urls["wiki"]], sha256s=["0" * 64], progress=False,
                        disk_free=PLENTY)
    assert not os.path.exists(tmp_path / "wiki_crop")
    with pytest.raises(ChecksumError, match="--from .* not the pinned"):
        fetch_imdb_wiki(str(tmp_path), "wiki", froms=[tars["wiki"].path], sha256s=["1" * 64], progress=False)
    assert not os.path.exists(tmp_path / "wiki_crop")


def test_from_file_with_matching_pin(tars, tmp_path):
    fetched = fetch_imdb_wiki(str(tmp_path), "imdb", froms=[tars["imdb"].path], sha256s=[tars["imdb"].sha256],
                              progress=False, disk_free=PLENTY)
    assert (fetched[0].sha256, fetched[0].origin) == (tars["imdb"].sha256, tars["imdb"].path)
    assert os.path.isfile(os.path.join(tmp_path, "imdb_crop", "01", "nm0000255_rm1_1972-08-15_2004.jpg"))
    with pytest.raises(ChecksumError, match="remove .* to fetch it again"):
        fetch_imdb_wiki(str(tmp_path), "imdb", froms=[tars["imdb"].path], sha256s=["2" * 64], progress=False)
    with pytest.raises(DownloadError, match="--from .*nothing.tar: no such file"):
        fetch_imdb_wiki(str(tmp_path / "other"), "wiki", froms=[str(tmp_path / "nothing.tar")], progress=False)


def test_disk_space_is_checked_before_downloading(served, tars, tmp_path):
    server, urls = served
    size = len(tars["wiki"].data)
    assert remote_size(urls["wiki"]) == size
    server.requests.clear()
    with pytest.raises(DiskSpaceError, match=r"has 0\.0 GB free, .* needed \(downloading and unpacking"):
        fetch_imdb_wiki(str(tmp_path), "wiki", [urls["wiki"]], progress=False, disk_free=lambda _p: 1000)
    assert [r["range"] for r in server.requests] == ["bytes=0-0"] and os.listdir(tmp_path) == []


def test_archive_without_mat_fails_the_structure_check(server, tmp_path):
    bad = write_crop_tar(str(tmp_path / "src"), "wiki", with_mat=False)
    server.files["/wiki_crop.tar"] = bad.data
    url = server.url("/wiki_crop.tar")
    with pytest.raises(StructureError, match=rf"wiki.mat is missing.*{url} is not the published wiki_crop.tar"):
        fetch_imdb_wiki(str(tmp_path / "data"), "wiki", [url], progress=False, disk_free=PLENTY)
    with pytest.raises(StructureError, match="exists without wiki.mat: remove it"):
        fetch_imdb_wiki(str(tmp_path / "data"), "wiki", [url], progress=False, disk_free=PLENTY)

"""fetch_lfw(): download or --from file, verify, unpack; the published LFW constants."""

from __future__ import annotations

import os
import re

import pytest

from app.datasets.download import ChecksumError
from app.datasets.lfw import LFW, LFW_FUNNELED, LFW_IDENTITIES, LFW_PAIRS, LFW_PHOTOS, RemoteFile, fetch_lfw


def test_published_constants():
    assert (LFW.filename, LFW.folder) == ("lfw.tgz", "lfw")
    assert (LFW_FUNNELED.filename, LFW_FUNNELED.folder) == ("lfw-funneled.tgz", "lfw_funneled")
    assert [p.filename for p in LFW_PAIRS] == ["pairsDevTrain.txt", "pairsDevTest.txt",
                                               "pairs.txt"]
    for source in (LFW, LFW_FUNNELED, *LFW_PAIRS):
        assert source.url.startswith("https://ndownloader.figshare.com/files/")
        assert re.fullmatch(r"[0-9a-f]{64}", source.sha256)
    assert (LFW_IDENTITIES, LFW_PHOTOS) == (5749, 13233)


def photos(folder) -> list[str]:
    """Relative paths of the JPEGs under folder."""
    return sorted(os.path.relpath(os.path.join(d, f), folder)
                  for d, _, fs in os.walk(folder) for f in fs if f.endswith(".jpg"))


def test_fetch_downloads_verifies_and_unpacks(server, lfw_tgz, tmp_path):
    server.files["/files/1"] = lfw_tgz.data
    source = RemoteFile("lfw.tgz", server.url("/files/1"), lfw_tgz.sha256, "lfw")
    root = tmp_path / "datasets"
    folder = fetch_lfw(str(root), source, progress=False)
    assert folder == str(root / "lfw")
    assert photos(folder) == sorted(r.removeprefix("lfw/") for r in lfw_tgz.files)
    assert sorted(os.listdir(root)) == ["lfw", "lfw.tgz"]
    assert fetch_lfw(str(root), source, progress=False) == folder  # already there: no request
    assert len(server.requests) == 1


def test_fetch_from_file_works_offline(refused_url, lfw_tgz, tmp_path):
    source = RemoteFile("lfw.tgz", refused_url, lfw_tgz.sha256, "lfw")
    (tmp_path / "datasets" / "lfw").mkdir(parents=True)  # an empty leftover is not "done"
    folder = fetch_lfw(str(tmp_path / "datasets"), source, from_file=lfw_tgz.path,
                       progress=False)
    assert len(photos(folder)) == 6
    assert os.path.isfile(lfw_tgz.path)  # the user's archive is left alone


def test_fetch_from_file_with_wrong_checksum_unpacks_nothing(refused_url, lfw_tgz, tmp_path):
    source = RemoteFile("lfw.tgz", refused_url, "0" * 64, "lfw")
    with pytest.raises(ChecksumError, match=refused_url):
        fetch_lfw(str(tmp_path / "datasets"), source, from_file=lfw_tgz.path, progress=False)
    assert not (tmp_path / "datasets").exists()

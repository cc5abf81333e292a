"""safe_extract(): real tarfiles, good and hostile."""

from __future__ import annotations

import io
import os
import tarfile

import pytest

from app.datasets.archive import UnsafeArchive, safe_extract


@pytest.mark.parametrize("compression", ["gz", "bz2", "xz", ""])
def test_extracts_lfw_layout(tmp_path, make_archive, all_paths, compression):
    archive = make_archive(tmp_path, compression, name=f"lfw.tar.{compression or 'plain'}")
    work = tmp_path / "work"
    count = safe_extract(archive.path, str(work / "out"), progress=False)
    assert count == len(archive.files) == 6
    assert os.listdir(work) == ["out"]  # no staging folder left beside it
    for rel, data in archive.files.items():
        assert (work / "out" / rel).read_bytes() == data
    assert all_paths(work / "out") == set(archive.files) | {
        "lfw", "lfw/AJ_Cook", "lfw/Aaron_Guiel", "lfw/Zico"}


def test_extracts_into_existing_folder_but_never_over_existing_entries(tmp_path, lfw_tgz,
                                                                       all_paths):
    root = tmp_path / "datasets"
    root.mkdir()
    (root / "other.txt").write_text("keep")
    assert safe_extract(lfw_tgz.path, str(root), progress=True) == 6
    before = all_paths(root)
    assert "other.txt" in before and "lfw/Zico/Zico_0003.jpg" in before
    with pytest.raises(FileExistsError, match="lfw"):
        safe_extract(lfw_tgz.path, str(root), progress=False)
    assert all_paths(root) == before
    assert os.listdir(tmp_path).count("datasets") == 1
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".extracting")]


def _info(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", **attrs) -> tuple:
    """A TarInfo plus its data."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    for key, value in attrs.items():
        setattr(info, key, value)
    return info, data


def _hostile(path: str, bad: tuple) -> None:
    """A .tgz with a good file, the bad member, then another good file."""
    with tarfile.open(path, "w:gz") as tar:
        for info, data in (_info("lfw/A/A_0001.jpg", data=b"ok"), bad,
                           _info("lfw/B/B_0001.jpg", data=b"ok")):
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)


HOSTILE = {
    "dotdot": lambda tmp: _info("../evil.txt", data=b"pwned"),
    "nested-dotdot": lambda tmp: _info("lfw/../../evil.txt", data=b"pwned"),
    "absolute": lambda tmp: _info(str(tmp / "evil_abs.txt"), data=b"pwned"),
    "symlink-out": lambda tmp: _info("lfw/evil_link", tarfile.SYMTYPE, linkname="/etc/passwd"),
    "symlink-in": lambda tmp: _info("lfw/evil_link", tarfile.SYMTYPE, linkname="A/A_0001.jpg"),
    "hardlink": lambda tmp: _info("lfw/evil_hard", tarfile.LNKTYPE, linkname="lfw/A/A_0001.jpg"),
    "chardev": lambda tmp: _info("lfw/evil_dev", tarfile.CHRTYPE, devmajor=1, devminor=3),
    "blockdev": lambda tmp: _info("lfw/evil_blk", tarfile.BLKTYPE, devmajor=7, devminor=0),
    "fifo": lambda tmp: _info("lfw/evil_fifo", tarfile.FIFOTYPE),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_member_is_refused_and_nothing_written(tmp_path, all_paths, kind):
    bad = HOSTILE[kind](tmp_path)
    archive = tmp_path / "hostile.tgz"
    _hostile(str(archive), bad)
    with tarfile.open(archive) as tar:  # the member really is in the archive as written
        assert bad[0].name in tar.getnames()
    work = tmp_path / "work" / "inner"
    work.mkdir(parents=True)
    before = all_paths(tmp_path)
    with pytest.raises(UnsafeArchive) as err:
        safe_extract(str(archive), str(work / "out"), progress=False)
    assert repr(bad[0].name) in str(err.value)
    assert all_paths(tmp_path) == before  # not the target, no staging folder, no escapee
    assert not any("evil" in p for p in all_paths(tmp_path))
    assert not os.path.exists("/evil.txt")


def test_windows_drive_path_is_refused(tmp_path):
    archive = tmp_path / "drive.tar"
    _hostile(str(archive), _info("C:/evil.txt", data=b"x"))
    with pytest.raises(UnsafeArchive, match="absolute"):
        safe_extract(str(archive), str(tmp_path / "out"), progress=False)
    assert not (tmp_path / "out").exists()

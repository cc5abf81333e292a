"""Safe tar extraction: every member is checked before anything is written."""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile

from tqdm import tqdm


class UnsafeArchive(ValueError):
    """An archive member could write outside the target or is not a plain file or folder."""


def _member_parts(member: tarfile.TarInfo) -> list[str]:
    """The member's path components, refusing absolute paths and '..'."""
    name = member.name
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchive(f"absolute path in archive: {name!r}")
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchive(f"'..' in archive member: {name!r}")
    if "\0" in name:
        raise UnsafeArchive(f"NUL byte in archive member: {name!r}")
    return parts


def safe_member_parts(member: tarfile.TarInfo) -> list[str]:
    """Path components of a member that is a plain file or folder; UnsafeArchive otherwise (absolute
    paths, '..', NUL bytes, links, devices, fifos and other member types are refused)."""
    parts = _member_parts(member)
    if member.issym() or member.islnk():
        raise UnsafeArchive(f"link in archive: {member.name!r} -> {member.linkname!r}")
    if member.ischr() or member.isblk() or member.isfifo():
        raise UnsafeArchive(f"device or fifo in archive: {member.name!r}")
    if not (member.isreg() or member.isdir()):
        raise UnsafeArchive(f"unsupported member type {member.type!r}: {member.name!r}")
    return parts


def _inside(root: str, path: str) -> bool:
    """Whether `path` resolves to somewhere under `root`."""
    root = os.path.realpath(root)
    return os.path.commonpath([root, os.path.realpath(path)]) == root


def _write(tar: tarfile.TarFile, member: tarfile.TarInfo, path: str) -> None:
    """Copy one regular member's bytes to a new file (never following a link)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    src = tar.extractfile(member)
    assert src is not None  # a regular member always has data
    with src, os.fdopen(os.open(path, flags, 0o644), "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    os.utime(path, (member.mtime, member.mtime))


def _extract_all(tar: tarfile.TarFile, members: list[tuple[tarfile.TarInfo, list[str]]],
                 stage: str, progress: bool) -> int:
    """Write the checked members under `stage`; number of files written."""
    files = sum(1 for m, _ in members if m.isreg())
    with tqdm(total=files, unit="file", desc="extract", disable=not progress) as bar:
        for member, parts in members:
            if not parts:
                continue
            path = os.path.join(stage, *parts)
            if not _inside(stage, path):
                raise UnsafeArchive(f"archive member escapes the target: {member.name!r}")
            if member.isdir():
                os.makedirs(path, exist_ok=True)
            else:
                _write(tar, member, path)
                bar.update(1)
    return files


def _move_into_place(stage: str, target: str) -> None:
    """Rename the staged tree to `target`, or its top-level entries into an existing `target`."""
    if not os.path.exists(target):
        os.replace(stage, target)
        return
    if not os.path.isdir(target):
        raise FileExistsError(f"{target} exists and is not a folder")
    entries = sorted(os.listdir(stage))
    clashes = [e for e in entries if os.path.lexists(os.path.join(target, e))]
    if clashes:
        raise FileExistsError(f"{os.path.join(target, clashes[0])} already exists; "
                              "remove it to extract again")
    for entry in entries:
        os.replace(os.path.join(stage, entry), os.path.join(target, entry))
    os.rmdir(stage)


def safe_extract(archive_path: str, target_dir: str, progress: bool = True) -> int:
    """Extract a tar (gz/bz2/xz/plain) under `target_dir`, all members checked first; file count."""
    target = os.path.abspath(target_dir)
    parent = os.path.dirname(target)
    with tarfile.open(archive_path, "r:*") as tar:
        members = [(m, safe_member_parts(m)) for m in tar.getmembers()]
        os.makedirs(parent, exist_ok=True)
        stage = tempfile.mkdtemp(prefix=f".{os.path.basename(target)}.", suffix=".extracting",
                                 dir=parent)
        try:
            count = _extract_all(tar, members, stage, progress)
            _move_into_place(stage, target)
        finally:
            if os.path.isdir(stage):
                shutil.rmtree(stage)
    return count

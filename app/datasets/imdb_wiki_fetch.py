"""Fetching the IMDB-WIKI crop archives: sources paired from the command line, a disk-space
check before anything is written, resumable download or a file on disk, the sha256 recorded
(or checked against a pin), safe extraction and a structure check of what was unpacked.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .archive import safe_extract
from .download import FROM_HINT, PART_SUFFIX, USER_AGENT, ChecksumError, DownloadError, download, sha256_file
from .imdb_wiki import SUBSETS, CropArchive, StructureError, check_structure

# Unpacked, each small crop rounds up to whole filesystem blocks: leave 15% over the tar's size.
EXTRACT_FACTOR = 1.15
SPARE_BYTES = 256 << 20
SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


class DiskSpaceError(DownloadError):
    """Not enough free space for the download and its extraction."""


@dataclass(frozen=True)
class Source:
    """Where one archive comes from: its URL, or a file already on disk; a sha256 pin or None."""

    archive: CropArchive
    url: str
    from_file: str | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class Fetched:
    """An unpacked archive: its crop folder and .mat, the archive's sha256, where it came from."""

    archive: CropArchive
    crop_dir: str
    mat_path: str
    sha256: str | None  # None only for a folder unpacked earlier whose archive is gone unrecorded
    origin: str  # the URL or the --from file


def plan_sources(subset: str, urls: Sequence[str] = (), froms: Sequence[str] = (),
                 sha256s: Sequence[str] = ()) -> list[Source]:
    """One Source per archive of `subset`, repeated --url/--from/--sha256 paired by position
    (IMDb first); ValueError on an unknown subset, a count that does not match, a bad sha256."""
    if subset not in SUBSETS:
        raise ValueError(f"--subset must be one of {', '.join(SUBSETS)}, not {subset!r}")
    archives = SUBSETS[subset]
    order = ", ".join(a.filename for a in archives)
    for option, values in (("--url", urls), ("--from", froms), ("--sha256", sha256s)):
        if len(values) not in (0, len(archives)):
            raise ValueError(f"{option} given {len(values)} times, but --subset {subset} names "
                             f"{len(archives)} archive(s) ({order}): give it once per archive, "
                             "in that order, or not at all")
    for pin in sha256s:
        if not SHA256.match(pin):
            raise ValueError(f"--sha256 {pin!r} is not 64 hexadecimal digits")
    return [Source(archive=a, url=urls[i] if urls else a.url, from_file=froms[i] if froms else None,
                   sha256=sha256s[i].lower() if sha256s else None)
            for i, a in enumerate(archives)]


def remote_size(url: str, timeout: float = 60.0) -> int | None:
    """The size the server gives for `url` (one-byte range request); DownloadError naming the
    URL and --from when it cannot be reached."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Range": "bytes=0-0"})
    try:
        resp = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        err.close()
        raise DownloadError(f"cannot download {url}: HTTP {err.code} {err.reason}; {FROM_HINT}") from err
    except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
        reason = getattr(err, "reason", err)
        raise DownloadError(f"cannot reach {url} ({reason}); if this machine is offline, "
                            f"fetch the file elsewhere and {FROM_HINT}") from err
    with resp:
        total = (resp.headers.get("Content-Range") or "").rpartition("/")[2]
        if resp.status == 206 and total.isdigit():
            return int(total)
        length = resp.headers.get("Content-Length") or ""
        return int(length) if resp.status == 200 and length.isdigit() else None


def _gb(n: float) -> str:
    """Bytes as GB with one decimal."""
    return f"{n / 1e9:.1f} GB"


def _bytes_needed(root: str, source: Source, timeout: float) -> tuple[int, str]:
    """(free bytes this source still needs, what for); probes the URL only when downloading."""
    archive = source.archive
    if os.path.isfile(os.path.join(root, archive.folder, archive.mat_name)):
        return 0, f"{archive.folder}/ already unpacked"
    if source.from_file is not None:
        if not os.path.isfile(source.from_file):
            raise DownloadError(f"--from {source.from_file}: no such file (expected {archive.filename} "
                                f"as published at {archive.url})")
        size = os.path.getsize(source.from_file)
        return int(size * EXTRACT_FACTOR), f"unpacking {source.from_file}"
    dest = os.path.join(root, archive.filename)
    if os.path.isfile(dest):
        return int(os.path.getsize(dest) * EXTRACT_FACTOR), f"unpacking {dest}"
    size = remote_size(source.url, timeout) or archive.approx_bytes
    part = dest + PART_SUFFIX
    have = os.path.getsize(part) if os.path.isfile(part) else 0
    return max(size - have, 0) + int(size * EXTRACT_FACTOR), f"downloading and unpacking {source.url}"


def free_bytes(path: str) -> int:
    """Free bytes on the filesystem holding `path`."""
    return shutil.disk_usage(path).free


def check_disk_space(root: str, sources: list[Source], timeout: float = 60.0,
                     disk_free: Callable[[str], int] = free_bytes) -> int:
    """Bytes the sources still need under `root`; DiskSpaceError when the disk has less free."""
    needs = [_bytes_needed(root, s, timeout) for s in sources]
    need = sum(n for n, _ in needs)
    if need == 0:
        return 0
    free = disk_free(root)
    if free < need + SPARE_BYTES:
        detail = "; ".join(f"{what}: {_gb(n)}" for n, what in needs if n)
        raise DiskSpaceError(f"{root} has {_gb(free)} free, {_gb(need + SPARE_BYTES)} needed ({detail}, "
                             f"plus {_gb(SPARE_BYTES)} spare); free some space, choose another folder, "
                             "or --subset wiki for the smaller archive")
    return need


def _sidecar(root: str, archive: CropArchive) -> str:
    """Where the archive's sha256 and origin are recorded, beside the unpacked folder."""
    return os.path.join(root, archive.filename + ".source.json")


def _recorded(root: str, archive: CropArchive) -> tuple[str | None, str]:
    """(sha256, origin) recorded when the archive was unpacked; else the sha256 of the archive
    if it is still there."""
    try:
        with open(_sidecar(root, archive), encoding="utf-8") as f:
            record = json.load(f)
        if SHA256.match(str(record.get("sha256"))):
            return record["sha256"].lower(), str(record.get("origin") or "")
    except (OSError, ValueError, AttributeError):
        pass
    kept = os.path.join(root, archive.filename)
    return (sha256_file(kept), kept) if os.path.isfile(kept) else (None, "")


def _fetch_one(root: str, source: Source, progress: bool, timeout: float,
               keep_archive: bool) -> Fetched:
    """Obtain, check and unpack one archive (or reuse it when already unpacked)."""
    archive, pin = source.archive, source.sha256
    crop_dir = os.path.join(root, archive.folder)
    mat = os.path.join(crop_dir, archive.mat_name)
    if os.path.isfile(mat):
        sha, origin = _recorded(root, archive)
        if pin is not None and sha != pin:
            raise ChecksumError(f"{crop_dir} was unpacked from an archive with sha256 {sha or 'unknown'}, "
                                f"not the pinned {pin}; remove {crop_dir} to fetch it again")
        return Fetched(archive, crop_dir, mat, sha, origin or crop_dir)
    if os.path.lexists(crop_dir):
        raise StructureError(f"{crop_dir} exists without {archive.mat_name}: remove it to unpack "
                             f"{archive.filename} again")
    if source.from_file is not None:
        path, origin = source.from_file, source.from_file
        sha = sha256_file(path)
        if pin is not None and sha != pin:
            raise ChecksumError(f"--from {path} has sha256 {sha}, not the pinned {pin} (--sha256)")
    else:
        path, origin = os.path.join(root, archive.filename), source.url
        download(source.url, path, pin, progress=progress, timeout=timeout)
        sha = pin or sha256_file(path)
    with open(_sidecar(root, archive), "w", encoding="utf-8") as f:
        json.dump({"filename": archive.filename, "sha256": sha, "origin": origin}, f)
    safe_extract(path, root, progress=progress)
    try:
        check_structure(crop_dir, archive)
    except StructureError as err:
        raise StructureError(f"{err}; {origin} is not the published {archive.filename} "
                             f"({archive.url}): {FROM_HINT}") from err
    if not keep_archive and source.from_file is None:
        os.remove(path)
    return Fetched(archive, crop_dir, mat, sha, origin)


def fetch_imdb_wiki(root: str, subset: str = "imdb", urls: Sequence[str] = (),
                    froms: Sequence[str] = (), sha256s: Sequence[str] = (), *, progress: bool = True,
                    timeout: float = 60.0, keep_archives: bool = True,
                    disk_free: Callable[[str], int] = free_bytes) -> list[Fetched]:
    """Download (or take `froms`), check and unpack the archives of `subset` under `root`.

    Every URL is reached and the disk space checked before anything is downloaded, so an
    offline machine or a full disk fails at once. Returns one Fetched per archive, IMDb first.
    """
    sources = plan_sources(subset, urls, froms, sha256s)
    os.makedirs(root, exist_ok=True)
    check_disk_space(root, sources, timeout, disk_free)
    return [_fetch_one(root, s, progress, timeout, keep_archives) for s in sources]

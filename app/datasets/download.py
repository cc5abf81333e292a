"""Resumable HTTP(S) download into `dest + '.part'`, sha256-checked, renamed into place."""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request

from tqdm import tqdm

PART_SUFFIX = ".part"
CHUNK = 1 << 16
USER_AGENT = "LooksLike-datasets/1 (+urllib)"
FROM_HINT = "pass an archive already on disk with --from FILE"


class DownloadError(RuntimeError):
    """A download failed; the message names the URL and says what to do."""


class ChecksumError(DownloadError):
    """The downloaded (or given) file does not have the published sha256."""


def sha256_file(path: str) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _part_size(part: str) -> int:
    """Bytes already downloaded into the part file (0 when there is none)."""
    try:
        return os.path.getsize(part)
    except OSError:
        return 0


def _open(url: str, offset: int, timeout: float, hint: str = FROM_HINT) -> http.client.HTTPResponse | None:
    """Open the URL from byte `offset`; None when the server says nothing is left (416)."""
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as err:
        err.close()
        if err.code == 416 and offset:
            return None
        raise DownloadError(f"cannot download {url}: HTTP {err.code} {err.reason}; "
                            f"{hint}") from err
    except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
        reason = getattr(err, "reason", err)
        raise DownloadError(f"cannot reach {url} ({reason}); if this machine is offline, "
                            f"fetch the file elsewhere and {hint}") from err


def _range_start(content_range: str | None) -> tuple[int | None, int | None]:
    """(first byte, total size) of a 'bytes START-END/TOTAL' header, None where absent."""
    if not content_range or not content_range.startswith("bytes "):
        return None, None
    span, _, total = content_range[6:].partition("/")
    start = span.partition("-")[0]
    return (int(start) if start.isdigit() else None,
            int(total) if total.isdigit() else None)


def _stream(resp: http.client.HTTPResponse, url: str, part: str, offset: int,
            progress: bool, hint: str = FROM_HINT) -> bool:
    """Write the response body into the part file; False when the server's range is unusable."""
    length = resp.headers.get("Content-Length")
    if offset and resp.status == 206:
        start, total = _range_start(resp.headers.get("Content-Range"))
        if start != offset:
            return False
        mode = "ab"
    elif resp.status == 200:
        offset, mode = 0, "wb"  # no resume (or the server ignored Range): start over
        total = None
    else:
        raise DownloadError(f"cannot download {url}: unexpected HTTP {resp.status}; {hint}")
    if total is None and length and length.isdigit():
        total = offset + int(length)
    done = offset
    bar = tqdm(total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
               desc=os.path.basename(part[:-len(PART_SUFFIX)]), disable=not progress)
    try:
        with open(part, mode) as f:
            while chunk := resp.read(CHUNK):
                f.write(chunk)
                done += len(chunk)
                bar.update(len(chunk))
    except (OSError, http.client.HTTPException) as err:
        raise DownloadError(f"download of {url} interrupted after {done} bytes ({err!r}); "
                            f"run the same command again to resume, or {hint}") from err
    finally:
        bar.close()
    if total is not None and done != total:
        raise DownloadError(f"download of {url} stopped at {done} of {total} bytes; "
                            f"run the same command again to resume, or {hint}")
    return True


def download(url: str, dest: str, sha256: str | None, progress: bool = True,
             timeout: float = 60.0, hint: str = FROM_HINT) -> str:
    """Download `url` to `dest` (resuming `dest.part`), check its sha256, rename it into place.

    `sha256` None: the publisher gives no checksum, so a complete `dest` is kept as it is and a
    finished download is not checked (the caller records its sha256). `hint` ends each error
    message: what to do instead of downloading.
    """
    sha256 = sha256.lower() if sha256 is not None else None
    if os.path.isfile(dest) and (sha256 is None or sha256_file(dest) == sha256):
        return dest
    os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    part = dest + PART_SUFFIX
    for _ in range(2):  # a second go only when a resume answer does not fit the part file
        offset = _part_size(part)
        resp = _open(url, offset, timeout, hint)
        if resp is None:  # 416: the part already holds the whole file
            break
        with resp:
            if _stream(resp, url, part, offset, progress, hint):
                break
        os.remove(part)
    else:
        raise DownloadError(f"cannot resume {url}: the server's byte ranges do not fit; "
                            f"{hint}")
    got = sha256_file(part) if sha256 is not None else None
    if got != sha256:
        os.remove(part)
        raise ChecksumError(f"{url} has sha256 {got}, expected {sha256}; the download was "
                            f"deleted (run again to download from scratch, or {hint})")
    os.replace(part, dest)
    return dest

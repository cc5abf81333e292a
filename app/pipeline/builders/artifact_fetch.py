"""A gallery artifact at a URL (GALLERY_URL, `flask gallery import URL`): fetched with retries, imported when new.

Downloads go through app/datasets/download.py (resumed with HTTP Range within one fetch, a
timeout on every connect and read) into ``galleries/.downloads/``; a failed attempt is retried
with exponential backoff, so a slow or unreachable URL fails after a bounded time with a message
naming it. `sync_gallery` asks the URL's ETag (HEAD; else Last-Modified and Content-Length) and
imports only when it changed since the last import from that URL, recorded in
``galleries/.sources/``; a server without either header is downloaded each time and compared by
sha256. One sync at a time runs on a galleries folder (a file lock), so the workers of one host
download an artifact once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from app.datasets.download import USER_AGENT, ChecksumError, DownloadError, download, sha256_file
from app.pipeline.builders.artifact_import import ImportResult, artifacts_lock, import_artifact
from app.pipeline.galleries import store

log = logging.getLogger(__name__)
T = TypeVar("T")
DOWNLOADS_DIR, SOURCES_DIR = ".downloads", ".sources"
IMPORT_HINT = "fetch the artifact another way and run `flask gallery import FILE`"


class FetchError(RuntimeError):
    """The URL could not be fetched within the attempts allowed; the message names it and the last error."""


@dataclass
class Retry:
    """Attempts and backoff: waits first_delay, then twice as long each time, at most max_delay."""

    attempts: int = 5
    first_delay: float = 1.0
    max_delay: float = 60.0
    sleep: Callable[[float], None] = time.sleep  # tests pass their own, so no test waits

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        return min(self.max_delay, self.first_delay * 2 ** (attempt - 1))


def with_retries(action: Callable[[], T], url: str, retry: Retry) -> T:
    """action(), again after a backoff on each DownloadError (a checksum mismatch is final); FetchError at last."""
    last: Exception | None = None
    for attempt in range(1, max(1, retry.attempts) + 1):
        try:
            return action()
        except ChecksumError:
            raise
        except DownloadError as exc:
            last = exc
            if attempt < retry.attempts:
                log.warning("gallery URL %s: attempt %d of %d failed (%s); retrying in %.0f s", url, attempt,
                            retry.attempts, exc, retry.delay(attempt))
                retry.sleep(retry.delay(attempt))
    raise FetchError(f"the gallery URL {url} could not be fetched after {retry.attempts} attempts: {last}")


def remote_fingerprint(url: str, timeout: float) -> str | None:
    """The artifact's ETag (or Last-Modified and length) from a HEAD request; None when the server gives none."""
    request = urllib.request.Request(url, method="HEAD", headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            etag, modified = resp.headers.get("ETag"), resp.headers.get("Last-Modified")
            return etag or (f"{modified}; {resp.headers.get('Content-Length')}" if modified else None)
    except urllib.error.HTTPError as err:
        err.close()
        if err.code in (403, 405, 501):  # HEAD not allowed: compare what is downloaded instead
            return None
        raise DownloadError(f"cannot fetch {url}: HTTP {err.code} {err.reason}; {IMPORT_HINT}") from err
    except OSError as err:  # URLError, timeouts, refused connections
        raise DownloadError(f"cannot reach {url} ({getattr(err, 'reason', err)}); {IMPORT_HINT}") from err


def fetch_artifact(url: str, dest: str, sha256: str | None, timeout: float, retry: Retry) -> str:
    """Download the artifact at `url` to `dest` (attempts resume one another); its path."""
    for stale in (dest, dest + ".part"):
        if os.path.exists(stale):
            os.remove(stale)
    try:
        return with_retries(lambda: download(url, dest, sha256, progress=False, timeout=timeout, hint=IMPORT_HINT),
                            url, retry)
    except (DownloadError, FetchError):
        if os.path.exists(dest + ".part"):  # no later attempt resumes it
            os.remove(dest + ".part")
        raise


def _key(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def read_source(galleries: str, url: str) -> dict | None:
    """What was last imported from this URL: {url, fingerprint, sha256, name, version}, else None."""
    try:
        with open(os.path.join(galleries, SOURCES_DIR, f"{_key(url)}.json"), encoding="utf-8") as f:
            record = json.load(f)
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("url") == url else None


def write_source(galleries: str, url: str, record: dict) -> None:
    """Remember what was imported from this URL (atomically)."""
    folder = os.path.join(galleries, SOURCES_DIR)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{_key(url)}.json")
    with open(f"{path}.tmp", "w", encoding="utf-8") as f:
        json.dump({**record, "url": url}, f, indent=1)
    os.replace(f"{path}.tmp", path)


def recorded_version(galleries: str, url: str, sha256: str | None = None, name: str | None = None) -> dict | None:
    """The last import from this URL when its version is still here (published under `name`, when given, and
    matching a pinned sha256), else None."""
    record = read_source(galleries, url)
    if record is None or (sha256 and record.get("sha256") != sha256.lower()) or (name and record.get("name") != name):
        return None
    folder = store.version_folder(galleries, record.get("name", ""), record.get("version", ""))
    return record if folder else None


@dataclass
class GallerySource:
    """Where a server's gallery comes from, and how it is fetched and checked."""

    url: str
    galleries: str
    calibration_dir: str
    models_dir: str
    served_model: Callable[[], dict]  # the served network's id (hashed on first use)
    config: dict
    name: str | None = None  # publish under this name (default: the artifact's)
    sha256: str | None = None
    timeout: float = 30.0
    retry: Retry = field(default_factory=Retry)


@dataclass
class SyncResult:
    """The gallery a sync left served, and whether it imported a new version."""

    name: str
    version: str
    changed: bool
    imported: ImportResult | None = None


def _unchanged(source: GallerySource, record: dict) -> SyncResult:
    """The recorded version, served again by its name if something else was published under it."""
    folder = store.version_folder(source.galleries, record["name"], record["version"])
    link = os.path.join(source.galleries, record["name"])
    if os.path.realpath(link) != os.path.realpath(folder):
        store.point_to(source.galleries, record["name"], folder)
    return SyncResult(record["name"], record["version"], changed=False)


def sync_gallery(source: GallerySource) -> SyncResult:
    """Import the artifact at source.url unless it is the one last imported from there; FetchError or
    ArtifactError (nothing changed) when it cannot be fetched or verified."""
    with artifacts_lock(source.galleries):
        record = recorded_version(source.galleries, source.url, source.sha256, source.name)
        fingerprint = with_retries(lambda: remote_fingerprint(source.url, source.timeout), source.url, source.retry)
        if record and fingerprint and record.get("fingerprint") == fingerprint:
            return _unchanged(source, record)
        folder = os.path.join(source.galleries, DOWNLOADS_DIR)
        os.makedirs(folder, exist_ok=True)
        dest = fetch_artifact(source.url, os.path.join(folder, f"{_key(source.url)}.artifact"), source.sha256,
                              source.timeout, source.retry)
        try:
            if record and not fingerprint and sha256_file(dest) == record.get("sha256"):
                return _unchanged(source, record)
            result = import_artifact(dest, source.galleries, source.served_model(), source.config,
                                     source.calibration_dir, source.models_dir, source.name, source.sha256,
                                     source=source.url)
        finally:
            os.remove(dest)
        write_source(source.galleries, source.url, {"fingerprint": fingerprint, "sha256": result.artifact_sha256,
                                                    "name": result.name, "version": result.version})
        return SyncResult(result.name, result.version, changed=True, imported=result)

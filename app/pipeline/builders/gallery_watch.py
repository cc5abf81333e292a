"""GALLERY_URL: each server process fetches and verifies its gallery before it is ready, then keeps it current.

At start-up (`start`): with `background` (gunicorn: the worker answers /readyz 503 "fetching ..."
meanwhile) the first fetch runs in this watch's thread, unless a version imported from the same
URL is already here (a restarted worker, a reload after SIGHUP): that one is served at once and
the URL checked right away. Without `background` (tests, `flask run`) the first fetch runs before
`start` returns, and a failure raises StartupError naming the URL.

Then every `every` seconds (0: never, except when `trigger`ed) the thread asks the URL for a new
version (artifact_fetch.sync_gallery: ETag first, the download only when it changed); a new one is
verified and published, then loaded completely and swapped into the engine in one assignment.
Until then, and whenever a check fails, the engine keeps serving the version it has.
"""

from __future__ import annotations

import logging
import os
import threading

from app.datasets.download import DownloadError
from app.pipeline.builders.artifact_fetch import (
    FetchError,
    GallerySource,
    Retry,
    SyncResult,
    recorded_version,
    sync_gallery,
)
from app.pipeline.errors import StartupError
from app.pipeline.galleries.artifact import ArtifactError
from app.pipeline.serving.engine import Engine

log = logging.getLogger(__name__)
SYNC_ERRORS = (FetchError, DownloadError, ArtifactError, StartupError, FileNotFoundError, OSError)


class GalleryWatch:
    """Keeps one engine on the newest verified gallery at a URL."""

    def __init__(self, engine: Engine, source: GallerySource, every: float):
        self.engine, self.source, self.every = engine, source, float(every)
        self.thread: threading.Thread | None = None
        self.last_error: str | None = None
        self.checks = 0  # finished checks, failed ones included
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._done = threading.Condition()
        self._checking = threading.Lock()

    def check(self) -> SyncResult:
        """Sync with the URL and serve what it left published, switching the engine when that is another
        version (loaded completely before the switch). Raises what the sync raises."""
        with self._checking:
            result = sync_gallery(self.source)
            if self.engine.served_version() != (result.name, result.version):
                self.engine.switch(result.name)
                log.info("gallery %s version %s from %s now served", result.name, result.version, self.source.url)
            return result

    def start(self, background: bool) -> None:
        """Serve the URL's gallery (see the module docstring), then watch it in a thread when asked to."""
        url = self.source.url
        if not background:
            try:
                self.check()
            except SYNC_ERRORS as exc:
                raise StartupError(f"the gallery at GALLERY_URL {url} could not be served: {exc}") from exc
            self.engine.load_all()
            if self.every > 0:
                self._spawn(first=None)
            return
        local = recorded_version(self.source.galleries, url, self.source.sha256, self.source.name)
        if local is not None:
            self.engine.switch(local["name"])
            self.engine.load_all()
            self._spawn(first=self._logged_check)
        else:
            self.engine.pending = f"fetching the gallery from {url}"
            self._spawn(first=self._first_fetch)

    def _spawn(self, first) -> None:
        self.thread = threading.Thread(target=self._run, args=(first,), name="gallery-watch", daemon=True)
        self.thread.start()

    def _first_fetch(self) -> bool:
        """The first fetch of a server with no gallery yet: ready after it, failed (with the URL) if it fails."""
        try:
            self.check()
            self.engine.pending = None
            self.engine.load_all()
        except SYNC_ERRORS as exc:
            self.engine.failure = f"the gallery at GALLERY_URL {self.source.url} could not be served: {exc}"
            self.engine.pending = None
            log.error("start-up failed: %s", self.engine.failure)
            return False
        return True

    def _logged_check(self) -> bool:
        """A check whose failure is logged and leaves the version served as it is."""
        try:
            self.check()
            self.last_error = None
        except SYNC_ERRORS as exc:
            self.last_error = str(exc)
            log.warning("gallery check of %s failed; still serving %s: %s", self.source.url,
                        self.engine.served_version(), exc)
            return False
        return True

    def _finished(self) -> None:
        with self._done:
            self.checks += 1
            self._done.notify_all()

    def _run(self, first) -> None:
        if first is not None:
            ok = first()
            self._finished()
            if not ok and first == self._first_fetch:
                return
        while not self._stop.is_set():
            self._wake.wait(self.every if self.every > 0 else None)
            if self._stop.is_set():
                return
            self._wake.clear()
            self._logged_check()
            self._finished()

    def trigger(self) -> None:
        """Check the URL now (the thread wakes up), not at the end of the interval."""
        self._wake.set()

    def wait_checks(self, count: int, timeout: float) -> bool:
        """Wait until `count` checks have finished (tests, operators' tools); whether they did in time."""
        with self._done:
            return self._done.wait_for(lambda: self.checks >= count, timeout)

    def stop(self) -> None:
        """End the thread after the check in progress, if any."""
        self._stop.set()
        self._wake.set()


def gallery_source(engine: Engine, url: str | None = None, sha256: str | None = None,
                   name: str | None = None) -> GallerySource:
    """Where the engine's gallery comes from: `url` (an import), else GALLERY_URL with GALLERY_SHA256 and GALLERY;
    fetched with the GALLERY_FETCH_* settings, checked against the network the engine serves."""
    from app.pipeline.builders.artifact_export import served_model

    config = engine.config
    if url is None:
        url, sha256, name = config["GALLERY_URL"], config["GALLERY_SHA256"] or None, config["GALLERY"] or None
    retry = Retry(attempts=int(config["GALLERY_FETCH_ATTEMPTS"]), first_delay=float(config["GALLERY_FETCH_BACKOFF"]))
    return GallerySource(url=url, galleries=engine.paths.galleries,
                         calibration_dir=os.path.dirname(engine.paths.calibration), models_dir=engine.paths.models,
                         served_model=lambda: served_model(engine.paths.weights, engine.runtime, config),
                         config=config, name=name, sha256=sha256, timeout=float(config["GALLERY_FETCH_TIMEOUT"]),
                         retry=retry)


def watch_gallery(engine: Engine, background: bool) -> GalleryWatch:
    """Serve GALLERY_URL's gallery on this engine and keep it current every GALLERY_CHECK_SECONDS."""
    watch = GalleryWatch(engine, gallery_source(engine), float(engine.config["GALLERY_CHECK_SECONDS"]))
    engine.watch = watch
    watch.start(background)
    return watch

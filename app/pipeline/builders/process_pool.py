"""The local engine of gallery builds on every core: a pool of processes, each with its own networks.

One process runs the networks on one core (RUNTIME_THREADS=1, the most photos per core second), so
a single-process build leaves the other cores idle. ``pool_runner`` starts ``workers`` processes
(spawned, so nothing of the parent's TensorFlow or thread pools is inherited; one BLAS thread
each), builds MTCNN and FaceNet once in each, and hands them whole chunks; the chunks come back
in build order, so checkpoints, resume and the result are those of the one-process engine (the
same networks: the same rows and embeddings).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Iterator

from app.pipeline.builders.chunked_build import ChunkRunner
from app.pipeline.builders.photo_batches import photo_records
from app.pipeline.errors import StartupError
from app.pipeline.networks.blas_threads import BLAS_VARS
from app.pipeline.serving.engine import Engine, EnginePaths

_worker: dict = {}  # this pool process's networks and settings


def default_workers() -> int:
    """The CPUs this process may use."""
    return max(1, len(os.sched_getaffinity(0)))


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """Processes started inside inherit one BLAS thread (an idle BLAS thread busy-waits beside the networks)."""
    saved = {var: os.environ.get(var) for var in BLAS_VARS}
    os.environ.update({var: "1" for var in BLAS_VARS})
    try:
        yield
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


def networks(config: dict, weights_path: str, threads: int = 1):
    """(detector, embedder) as the app builds them (runtime resolved, checksums verified), on `threads` threads."""
    settings = {**config, "RUNTIME_THREADS": int(threads), "RUNTIME_THREADS_ALONE": 1}  # never more than asked
    engine = Engine(settings, EnginePaths(weights_path, "", "", "", ""))
    return engine.detector, engine.embedder


def _start(config: dict, weights_path: str) -> None:
    """Pool initializer: build this process's networks once; a failure is kept for `_records` to raise.

    An initializer that raises makes the pool start a replacement process, forever; raised from a
    task instead, the error reaches the build (and `flask gallery build` prints it).
    """
    try:
        _worker["detector"], _worker["embedder"] = networks(config, weights_path)
    except Exception as exc:  # noqa: BLE001 - any failure to load the networks ends the build with its message
        _worker["error"] = exc if isinstance(exc, StartupError) else StartupError(
            f"A build process could not load the networks: {exc}")
    _worker["config"] = config


def _records(item: tuple[int, list[str]]) -> tuple[int, dict]:
    """One chunk's photo records, in a pool process."""
    if "error" in _worker:
        raise _worker["error"]
    c, paths = item
    return c, photo_records(paths, _worker["detector"], _worker["embedder"], _worker["config"])


def pool_runner(config: dict, weights_path: str, workers: int) -> ChunkRunner:
    """A chunk runner on `workers` local processes (chunks returned in order)."""
    settings = {key: value for key, value in dict(config).items() if key.isupper()}

    def run(pending: list[tuple[int, list[str]]]) -> Iterator[tuple[int, dict]]:
        if not pending:
            return
        with one_blas_thread():  # for every process the pool starts, replacements included
            pool = multiprocessing.get_context("spawn").Pool(min(workers, len(pending)), initializer=_start,
                                                             initargs=(settings, weights_path))
            try:
                yield from pool.imap(_records, pending)
            finally:
                pool.terminate()
                pool.join()

    return run

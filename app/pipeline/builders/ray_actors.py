"""The Ray engine of gallery builds (`flask gallery build ... --engine ray [--ray-address ADDR]`).

Ray Data streams the photos a build still needs (one row per file, in build order) through
``map_batches`` with a pool of actors: each actor builds MTCNN and FaceNet once (ONNX Runtime when
converted, as the app does), then runs every batch through decode -> detect -> embed
(``app.pipeline.builders.photo_batches.photo_records``, the local engine's per-photo path). The driver takes the
rows back in order, regroups them into the build's chunks, and ``app.pipeline.builders.chunked_build`` writes
checkpoints, version, names, resemblance reference and report as for a local build, so both
engines give the same gallery (and either resumes the other's build).

Ray is an optional extra (requirements-ray.txt), imported here only, when the engine runs. On a
cluster every node needs Ray, this project at the same path (it goes on the workers' PYTHONPATH),
the FaceNet weights and the photos at the paths the driver sees (a shared file system).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import numpy as np

from app.pipeline.builders.chunked_build import ChunkRunner
from app.pipeline.builders.photo_batches import photo_records
from app.pipeline.builders.process_pool import networks
from app.pipeline.errors import StartupError
from app.pipeline.networks.blas_threads import BLAS_VARS
from app.pipeline.networks.runtime import resolve_runtime
from app.pipeline.serving.engine_loading import require_weights

RAY_INSTALL = "pip install -r requirements-ray.txt"
# The checkout (app/pipeline/builders/ -> three folders up), which the workers import the app from.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def import_ray():
    """The ray package, or a StartupError that says how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401  (Ray Data ships in the ray[data] extra)
    except ImportError as exc:
        raise StartupError(f"The Ray engine needs Ray, an optional extra not in the serving install: "
                           f"`{RAY_INSTALL}` (or use the default local engine).") from exc
    return ray


class FaceActor:
    """A Ray Data actor: the networks are built once per actor, then every batch of rows
    {chunk, path} goes through the per-photo path."""

    def __init__(self, config: dict, weights_path: str, threads: int):
        if resolve_runtime(config["RUNTIME"], os.path.dirname(weights_path)) == "tf":
            import tensorflow as tf

            try:  # one actor per `threads` CPUs: TensorFlow should not use every core of the node
                tf.config.threading.set_intra_op_parallelism_threads(threads)
                tf.config.threading.set_inter_op_parallelism_threads(threads)
            except RuntimeError:  # TensorFlow already initialized in this worker
                pass
        self.config = config
        # The networks as the app builds them: ONNX Runtime when converted (about 4x less CPU), else TensorFlow.
        self.detector, self.embedder = networks(config, weights_path, threads)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rec = photo_records([str(p) for p in batch["path"]], self.detector, self.embedder, self.config)
        return {"chunk": np.asarray(batch["chunk"], np.int64), **rec}


def _regroup(batches: Iterator[dict[str, np.ndarray]], pending: list[tuple[int, list[str]]]):
    """(chunk, records) in the order of `pending` from the actors' output rows (in input order)."""
    parts: list[dict[str, np.ndarray]] = []
    have = 0
    todo = iter(pending)
    c, paths = next(todo)
    for batch in batches:
        start = 0
        chunk = np.asarray(batch["chunk"])
        while start < len(chunk):
            if c is None:
                raise RuntimeError("Ray returned more rows than the build has photos")
            take = min(len(paths) - have, len(chunk) - start)
            if not (chunk[start:start + take] == c).all():
                raise RuntimeError(f"Ray returned the rows out of order (chunk {c} expected)")
            parts.append({k: np.asarray(v)[start:start + take] for k, v in batch.items() if k != "chunk"})
            have += take
            start += take
            if have == len(paths):
                yield c, {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
                parts, have = [], 0
                c, paths = next(todo, (None, []))


def ray_runner(config: dict, weights_path: str, address: str | None = None, num_cpus: int | None = None,
               cpus_per_actor: int = 1) -> ChunkRunner:
    """A chunk runner on Ray: the cluster at `address`, else a local Ray of `num_cpus` CPUs
    (all by default), with one actor per `cpus_per_actor` CPUs of the cluster."""
    require_weights(weights_path)
    ray = import_ray()
    settings = dict(config)
    size = int(config["EMBED_BATCH_SIZE"])

    def run(pending: list[tuple[int, list[str]]]) -> Iterator[tuple[int, dict]]:
        if not pending:
            return
        started = not ray.is_initialized()
        if started:
            env = {"env_vars": {"PYTHONPATH": ROOT,
                                "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
                                **{var: "1" for var in BLAS_VARS}}}
            quiet = {"logging_level": logging.WARNING, "log_to_driver": False, "runtime_env": env}
            if address:
                ray.init(address=address, **quiet)
            else:
                ray.init(num_cpus=num_cpus or os.cpu_count(), include_dashboard=False, **quiet)
        try:
            logging.getLogger("ray.data").setLevel(logging.ERROR)  # quiet: the build has its own progress bar
            context = ray.data.DataContext.get_current()
            context.execution_options.preserve_order = True  # rows come back in build order
            context.enable_progress_bars = False
            actors = max(1, int(ray.cluster_resources().get("CPU", 1) // cpus_per_actor))
            rows = [{"chunk": c, "path": path} for c, paths in pending for path in paths]
            dataset = ray.data.from_items(rows).map_batches(
                FaceActor, fn_constructor_kwargs={"config": settings, "weights_path": weights_path,
                                                  "threads": cpus_per_actor},
                batch_size=size, batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=actors),
                num_cpus=cpus_per_actor)
            yield from _regroup(dataset.iter_batches(batch_size=None, batch_format="numpy"), pending)
        finally:
            if started:
                ray.shutdown()

    return run

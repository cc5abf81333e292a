"""Gallery builds: photo files through the per-photo path in checkpointed chunks, then a new version.

Work happens in ``galleries/.building/NAME/``: ``plan.json`` (the files, in order), then one
``chunks/NNNNN.npz`` per chunk of EMBED_BATCH_SIZE photos, written atomically after its
thumbnails. A build killed at any point continues with ``resume=True`` from the last finished
chunk (no photo embedded twice); the result is then written as a new version and published
(app/pipeline/galleries/store.py). ``base`` adds photos to an existing gallery without re-embedding it.
The chunks are computed by an engine: the local one here, or Ray (app/pipeline/builders/ray_actors.py).
The version's files and manifest are written by app/pipeline/builders/version_files.py.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from app.pipeline.builders import label_cleaning
from app.pipeline.builders.photo_batches import list_photos, photo_records
from app.pipeline.builders.version_files import write_built_version
from app.pipeline.galleries import store
from app.pipeline.galleries.quality import select_per_identity
from app.pipeline.galleries.reader import (
    EMBEDDINGS_FILE,
    Gallery,
    display_name,
    pipeline_settings,
    thumb_path,
)
from app.pipeline.galleries.store import link_or_copy
from app.pipeline.galleries.takedowns import Takedowns
from app.pipeline.galleries.vector_index import build_index
from app.pipeline.photos.detect import Detector
from app.pipeline.photos.embed import Embedder

WORK_DIR = ".building"


@dataclass
class BuildReport:
    """What a gallery build did."""

    name: str
    path: str  # the version folder published
    source_dir: str
    rows: int = 0
    identities: int = 0
    photos: int = 0
    skipped: Counter = field(default_factory=Counter)
    skipped_files: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    resumed_photos: int = 0  # photos whose chunk a killed build had already finished
    added_to: int = 0  # rows kept from the gallery added to
    quality: dict = field(default_factory=dict)  # per identity: photos kept and the level that let them
    taken_down: list[str] = field(default_factory=list)  # identities left out: on the takedown list
    cleaning: label_cleaning.CleaningOutcome | None = None  # the photos cleaning dropped, with their reasons

    def summary(self) -> str:
        """One line for the terminal, with the throughput."""
        skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items())) or "none"
        done = self.photos - self.resumed_photos
        rate = done / self.seconds if self.seconds else 0.0
        extra = f"; {self.resumed_photos} photos resumed from a killed build" if self.resumed_photos else ""
        extra += f"; {self.added_to} rows kept from the previous version" if self.added_to else ""
        if self.quality:
            relaxed = sum(q["level"] > 0 for q in self.quality.values())
            extra += f"; best photos kept per identity ({relaxed} identities needed relaxed thresholds)"
        extra += f"; {self.cleaning.summary()}" if self.cleaning else ""
        return (f"gallery {self.name}: {self.rows} faces of {self.identities} "
                f"identities from {self.photos} photos in {self.seconds:.1f}s ({rate:.1f} photos/s); "
                f"skipped: {skipped}{extra}")


def _plan(work: str, items: list[tuple[str, str]], config: dict, resume: bool) -> list[tuple[str, str]]:
    """The build's file list: the interrupted build's when resuming the same job, else a new one."""
    plan_file = os.path.join(work, "plan.json")
    job = {"items": items, "pipeline": pipeline_settings(config), "chunk": int(config["EMBED_BATCH_SIZE"])}
    if resume and os.path.isfile(plan_file):
        with open(plan_file, encoding="utf-8") as f:
            if json.load(f) == json.loads(json.dumps(job)):
                return items
    shutil.rmtree(work, ignore_errors=True)  # a stale or different job: start afresh
    os.makedirs(os.path.join(work, "chunks"))
    with open(plan_file + ".part", "w", encoding="utf-8") as f:
        json.dump(job, f)
    os.replace(plan_file + ".part", plan_file)
    return items


def _chunk_file(work: str, c: int) -> str:
    """Checkpoint file of chunk c."""
    return os.path.join(work, "chunks", f"{c:05d}.npz")


def _save_chunk(work: str, c: int, rec: dict[str, np.ndarray]) -> None:
    """Write one chunk's thumbnails, then its checkpoint (atomically, the commit mark)."""
    thumbs = os.path.join(work, "thumbs", f"{c:05d}")
    shutil.rmtree(thumbs, ignore_errors=True)
    os.makedirs(thumbs)
    error = np.asarray(rec["error"], dtype="U32")
    kept, skipped = np.flatnonzero(error == ""), np.flatnonzero(error != "")
    for j, i in enumerate(kept):
        with open(os.path.join(thumbs, f"{j}.jpg"), "wb") as f:
            f.write(rec["thumb"][i])
    part = _chunk_file(work, c) + ".part.npz"
    np.savez(part, item=kept.astype(np.int32),
             embedding=np.asarray(rec["embedding"], np.float32)[kept].reshape(-1, 128),
             box=np.asarray(rec["box"], np.int32)[kept].reshape(-1, 4),
             confidence=np.asarray(rec["confidence"], np.float32)[kept],
             photo_side=np.asarray(rec["photo_side"], np.int32)[kept],
             skipped=skipped.astype(np.int32), reason=error[skipped])
    os.replace(part, _chunk_file(work, c))


# An engine computes the records of the chunks a build still needs: given [(chunk, paths)], it
# yields (chunk, photo_records(paths)) in the same order. The local one runs them in this process.
ChunkRunner = Callable[[list[tuple[int, list[str]]]], Iterator[tuple[int, dict]]]


def local_runner(detector: Detector, embedder: Embedder, config: dict) -> ChunkRunner:
    """The local engine: each chunk through the per-photo path in this process, one after another."""
    return lambda pending: ((c, photo_records(paths, detector, embedder, config)) for c, paths in pending)


def _chunks(work: str, items, runner: ChunkRunner, config: dict, desc: str, progress: bool,
            report: BuildReport) -> Iterator[tuple[int, dict]]:
    """(chunk number, checkpoint arrays) of every chunk, running those not finished yet."""
    from tqdm import tqdm

    size = int(config["EMBED_BATCH_SIZE"])
    chunks = [[path for _, path in items[start:start + size]] for start in range(0, len(items), size)]
    pending = [(c, paths) for c, paths in enumerate(chunks) if not os.path.isfile(_chunk_file(work, c))]
    to_run = {c for c, _ in pending}
    computed = runner(pending)
    faces = 0
    with tqdm(total=len(items), desc=desc, unit="photo", disable=not progress) as bar:
        for c, paths in enumerate(chunks):
            if c not in to_run:
                report.resumed_photos += len(paths)
            else:
                done, rec = next(computed)
                if done != c:
                    raise RuntimeError(f"the build engine returned chunk {done} where chunk {c} was due")
                _save_chunk(work, c, rec)
            with np.load(_chunk_file(work, c)) as data:
                arrays = {key: data[key] for key in data.files}
            faces += len(arrays["item"])
            bar.update(len(paths))
            bar.set_postfix(faces=faces, skipped=bar.n - faces)
            yield c, arrays


def build_gallery(src_dir: str, galleries: str, name: str, detector: Detector | None, embedder: Embedder | None,
                  config: dict, names: dict[str, dict] | None = None, resume: bool = False,
                  base: Gallery | None = None, per_identity: int | None = None,
                  progress: bool = True, runner: ChunkRunner | None = None,
                  takedowns: Takedowns | None = None, source: dict | None = None, clean: bool = False) -> BuildReport:
    """Detect, crop and embed every photo of src_dir into a new version of gallery `name`.

    names maps folder ids to {"name": display name, other attributes}; base is a gallery whose
    rows are kept (photos it already holds are not embedded again); per_identity keeps the K best
    photos of each identity (app/pipeline/galleries/quality.py); runner is the engine that computes the
    chunks (default: the local one with detector and embedder; app/pipeline/builders/ray_actors.py: Ray);
    the identities on `takedowns` are left out (their photos are counted as skipped, never read);
    `source` (where the photos came from: dataset, archives and checksums, terms) goes into the manifest;
    `clean` drops the photos that disagree with their identity first (builders/label_cleaning.py).
    """
    runner = runner or local_runner(detector, embedder, config)
    if not os.path.isdir(src_dir):
        raise FileNotFoundError(f"{src_dir} is not a folder of <identity>/<photos> sub-folders")
    start = time.perf_counter()
    items = list_photos(src_dir)
    if base is not None:
        have = set(base.row_metadata()["source"].tolist())
        items = [(identity, path) for identity, path in items if path not in have]
    if not items and base is None:
        raise ValueError(f"{src_dir} has no <identity>/<photo> files")
    items, taken_down = leave_out_takedowns(items, takedowns, names or {})
    work = os.path.join(galleries, WORK_DIR, name)
    store.clean_stale(galleries, name)
    items = _plan(work, items, config, resume)
    report = BuildReport(name=name, path="", source_dir=os.path.abspath(src_dir), photos=len(items),
                         taken_down=sorted(taken_down))
    if taken_down:
        report.skipped["takedown"] = sum(taken_down.values())
    version = store.new_version(galleries, name)
    try:
        cleaning = label_cleaning.CleaningSettings.from_config(config) if clean else None
        columns = _assemble(work, version, items, base, runner, config, names or {}, progress, report, per_identity,
                            cleaning)
        if not columns["rows"]:
            left = " left after cleaning" if report.cleaning else ""
            raise ValueError(f"no usable face{left} in any of the {len(items)} photos of {src_dir}")
        report.seconds = time.perf_counter() - start
        write_built_version(version, columns, report, base, config, name, per_identity, takedowns, source)
        if config["INDEX"] != "exact" and report.rows >= config["INDEX_MIN_ROWS"]:
            build_index(version, np.load(os.path.join(version, EMBEDDINGS_FILE), mmap_mode="r"))
        report.path = store.publish(galleries, name, version)
    finally:
        if os.path.isdir(version):  # not published: a failed build leaves no partial version
            shutil.rmtree(version, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)
    return report


def leave_out_takedowns(items: list[tuple[str, str]], takedowns: Takedowns | None,
                        names: dict[str, dict]) -> tuple[list[tuple[str, str]], Counter]:
    """(the items of identities not taken down, photos left out per identity taken down)."""
    if not takedowns:
        return items, Counter()
    left_out: Counter = Counter()
    kept = []
    for identity, path in items:
        if takedowns.covers(identity, names.get(identity, {}).get("name") or display_name(identity)):
            left_out[identity] += 1
        else:
            kept.append((identity, path))
    return kept, left_out


def _assemble(work, version, items, base, runner: ChunkRunner, config, names, progress, report,
              per_identity: int | None = None, cleaning: label_cleaning.CleaningSettings | None = None) -> dict:
    """Run or reuse every chunk; gather rows, thumbnails and the identity table into `version`."""
    table = list(base.identity_table) if base is not None else []
    index = {entry["id"]: k for k, entry in enumerate(table)}
    cols: dict[str, list] = {k: [] for k in ("embedding", "label", "source", "box", "confidence", "photo_side")}
    thumbs: list[str] = []
    if base is not None:
        meta = base.row_metadata()
        cols.update(embedding=[np.asarray(base.embeddings)], label=[base.labels], source=[meta["source"]],
                    box=[meta["box"]], confidence=[meta["confidence"]],
                    photo_side=[meta.get("photo_side", np.zeros(len(base), np.int32))])
        thumbs += [base.thumb_path(row) for row in range(len(base))]
        report.added_to = len(base)
    size = int(config["EMBED_BATCH_SIZE"])
    for c, arrays in _chunks(work, items, runner, config, f"gallery {os.path.basename(work)}", progress, report):
        chunk_items = [items[c * size + int(i)] for i in arrays["item"]]
        for j, (identity, _) in enumerate(chunk_items):
            if identity not in index:
                index[identity] = len(table)
                extra = dict(names.get(identity, {}))
                table.append({"id": identity, "name": extra.pop("name", None) or display_name(identity), **extra})
            thumbs.append(os.path.join(work, "thumbs", f"{c:05d}", f"{j}.jpg"))
        cols["embedding"].append(arrays["embedding"])
        cols["label"].append(np.array([index[identity] for identity, _ in chunk_items], np.int32))
        cols["source"].append(np.array([path for _, path in chunk_items], dtype=str))
        for key in ("box", "confidence", "photo_side"):
            cols[key].append(arrays[key])
        for i, reason in zip(arrays["skipped"], arrays["reason"]):
            report.skipped[str(reason)] += 1
            report.skipped_files.append((items[c * size + int(i)][1], str(reason)))
    out = {k: np.concatenate(v) if v else np.zeros(0) for k, v in cols.items()}
    order = np.arange(len(thumbs))
    if cleaning and len(order):  # before the quality loop: a wrong face must not take a best-photo place
        report.cleaning = label_cleaning.clean_build(out["embedding"], out["label"], out["source"], table, cleaning)
        order = report.cleaning.rows
    if per_identity:
        best, report.quality = select_per_identity(out["label"][order], out["photo_side"][order],
                                                   out["box"][order], out["confidence"][order], per_identity)
        order, report.quality = order[best], {table[k]["id"]: v for k, v in report.quality.items()}
    for row, src in enumerate(order):
        link_or_copy(thumbs[src], thumb_path(version, row))
    return {"rows": len(order), "table": table, **{k: v[order] if len(v) else v for k, v in out.items()}}

"""The files of a built gallery version: arrays, identity table with portraits, resemblance, manifest."""

from __future__ import annotations

import time

import numpy as np

from app.pipeline.galleries import store
from app.pipeline.galleries.quality import LEVELS, portrait_rows
from app.pipeline.galleries.reader import FORMAT_VERSION, THUMBS_DIR, Gallery, check_matrix, pipeline_settings
from app.pipeline.galleries.takedowns import Takedowns
from app.pipeline.scoring.identity_norm import build_references

SKIPPED_LISTED = 1000  # skipped files named in the manifest (all are counted)
EMBEDDING_MODEL = "facenet_keras (Inception-ResNet-v1, MS-Celeb-1M)"


def identity_table(table: list[dict], labels: np.ndarray, rows: dict[str, np.ndarray]) -> tuple[list[dict], np.ndarray]:
    """(table, labels) keeping only identities that have rows, each with its portrait row."""
    present = np.unique(labels)
    remap = np.full(len(table), -1, np.int32)
    remap[present] = np.arange(len(present), dtype=np.int32)
    labels = remap[labels]
    portraits = portrait_rows(labels, rows["photo_side"], rows["box"], rows["confidence"], len(present))
    kept = [{**table[k], "portrait": int(portraits[i])} for i, k in enumerate(present)]
    return kept, labels


def takedowns_manifest(takedowns: Takedowns | None, left_out: list[str]) -> dict:
    """What the manifest says of the takedowns a build honoured."""
    return {"listed": len(takedowns) if takedowns is not None else 0, "left_out": sorted(left_out)}


def write_built_version(version: str, cols: dict, report, base: Gallery | None, config: dict, name: str,
                        per_identity: int | None, takedowns: Takedowns | None = None,
                        source: dict | None = None) -> None:
    """Write the arrays, the identity table, the resemblance reference and the manifest of a finished version."""
    matrix = np.asarray(cols["embedding"], np.float32)
    check_matrix(matrix, f"the embeddings of gallery {name}", "The build produced damaged rows.", sample=None)
    rows = {"source": cols["source"], "box": cols["box"].astype(np.int32).reshape(-1, 4),
            "confidence": cols["confidence"].astype(np.float32), "photo_side": cols["photo_side"].astype(np.int32)}
    table, labels = identity_table(cols["table"], cols["label"].astype(np.int32), rows)
    report.rows, report.identities = len(matrix), len(table)
    resemblance, reference = build_references(version, matrix, labels, len(table), config)
    sources = (base.manifest.get("source_dirs", []) if base is not None else []) + [report.source_dir]
    manifest = {
        "format": FORMAT_VERSION, "name": name, "source_dirs": sorted(set(sources)),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "embedding": {"model": EMBEDDING_MODEL, "dim": int(matrix.shape[1])},
        "pipeline": pipeline_settings(config), "rows": report.rows, "identities": len(table),
        "photos": report.photos + report.added_to, "skipped": dict(report.skipped),
        "skipped_files": [{"file": p, "reason": r} for p, r in report.skipped_files[:SKIPPED_LISTED]],
        "resemblance": reference,
        "thumbs": THUMBS_DIR,
        "takedowns": takedowns_manifest(takedowns, report.taken_down),
    }
    if source:
        manifest["source"] = source
    if report.cleaning:
        manifest["cleaning"] = report.cleaning.manifest(SKIPPED_LISTED)
    if per_identity:
        manifest["quality"] = {"per_identity": per_identity, "levels": list(LEVELS), "identities": report.quality}
    store.write_version(version, matrix, labels, table, rows, manifest, resemblance)

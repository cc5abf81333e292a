"""Exact vs vector-index scoring on a gallery, side by side: score p50/p95, recall, memory, start-up.

Usage: python bench/index_scale.py --gallery synth1m [--queries 500] [--top 10]
Queries: new photos of gallery identities and people not in the gallery (perturbations of real
embeddings, app/evaluation/synthetic.py). Recall: overlap with the exact top-10 identities.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from report import Report, add_option  # noqa: E402  (bench/, beside this script)
from server import memory_mb  # noqa: E402


def rss_mb() -> np.ndarray:
    """Resident memory of this process now (MB): [private, file-backed] (bench/server.py memory_mb)."""
    mem = memory_mb()
    return np.array([mem["private"], mem["file"]])


def main() -> None:
    """Open the gallery both ways, run the queries, print one table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gallery", required=True)
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--top", type=int, default=10)
    ap.add_argument("--shortlist", type=int, default=1000, help="rows the index passes to the exact rerank")
    add_option(ap)
    args = ap.parse_args()
    report = Report(args.markdown)
    import flask

    from app.config import DEFAULTS
    from app.evaluation.synthetic import synthetic_rows, unit
    from app.instance_paths import galleries_dir
    from app.pipeline.scoring.scorers import Aggregation
    from app.pipeline.serving.engine import Engine, EnginePaths

    root = galleries_dir(flask.Flask("x", instance_path=os.path.abspath("instance")))
    real = np.array(np.load(os.path.join(root, args.gallery, "embeddings.npy"), mmap_mode="r")[:86])
    members, _, _ = synthetic_rows(real, args.queries // 2, seed=11)
    visitors = unit(members + 0.1 * np.random.default_rng(5).standard_normal(members.shape))
    queries = np.r_[members, visitors][:args.queries]
    rows = {}
    # The index first, so its RSS growth is measured before the exact pass has paged in the whole matrix.
    for mode in ("ann", "exact"):
        before, t0 = rss_mb(), time.perf_counter()
        config = {**DEFAULTS, "GALLERY": args.gallery, "INDEX": mode, "INDEX_SHORTLIST": args.shortlist}
        engine = Engine(config, EnginePaths("", root, "", "", ""))
        gallery, scorer = engine.gallery, engine.scorer
        ready = time.perf_counter() - t0
        for aggregation in (Aggregation("max"), Aggregation("mean_n", 3)):
            times, found = [], []
            for q in queries:
                t = time.perf_counter()
                found.append([m.identity for m in scorer.rank(q, gallery.labels, gallery.identities, args.top,
                                                              aggregation)])
                times.append(time.perf_counter() - t)
            rows[(mode, aggregation.method)] = (np.percentile(times, 50) * 1e3, np.percentile(times, 95) * 1e3,
                                                found, ready, rss_mb() - before)
    caption = (f"gallery {args.gallery}: {len(gallery):,} rows, {len(gallery.identities):,} identities, "
               f"{len(queries)} queries, top-{args.top} identities, index shortlist {args.shortlist} rows")
    print(caption)
    table = []
    for (mode, method), (p50, p95, found, ready, rss) in rows.items():
        exact = rows[("exact", method)][2]
        recall = np.mean([len(set(a) & set(b)) / args.top for a, b in zip(found, exact)])
        table.append([mode, method, f"{p50:.2f}", f"{p95:.2f}", f"{recall:.4f}", f"{ready:.1f}", f"{rss[0]:.0f}",
                      f"{rss[1]:.0f}"])
    print(report.table(["scoring", "aggregate", "score p50 ms", "p95 ms", f"recall@{args.top} vs exact", "ready s",
                        "RSS + MB private", "RSS + MB page cache (shared)"], table, caption))
    report.write()


if __name__ == "__main__":
    main()

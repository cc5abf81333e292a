"""Benchmark: naive all-pairs similarity network vs SimilarityScorer, one query against a big gallery.

Usage: python bench/scoring.py [--gallery 100000] [--queries 50] [--k 10] [--shortlist 200]
                               [--no-trained] [--markdown FILE]

Scenario "random": random-weight similarity nets, gallery of L2-normalized random vectors (timing;
for absprod/chi2 the cosine shortlist is unrelated to a random net, so agreement there is ~N/M).
Scenario "trained": nets trained briefly on synthetic clustered embeddings, gallery of encoded
photos of unseen synthetic identities, queries = other photos of gallery identities (agreement).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
from report import Report, add_option  # noqa: E402  (bench/, beside this script)

from models.encoder import encode  # noqa: E402
from models.similarity import COMBINERS, build_similarity, naive_scores  # noqa: E402
from models.similarity_scorer import SimilarityScorer  # noqa: E402
from models.train_config import TrainConfig  # noqa: E402
from models.train_loop import train  # noqa: E402

DIM = 128


def unit_rows(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """n random L2-normalized float32 rows."""
    x = rng.standard_normal((n, d), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def clustered(
    n_ids: int, per_id: int, rng: np.random.Generator, nuisance: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic 'FaceNet-like' unit embeddings: identity centre + noise + shared nuisance subspace."""
    centres = unit_rows(n_ids, DIM, rng)
    ids = np.repeat(np.arange(n_ids), per_id)
    x = centres[ids] + rng.standard_normal((len(ids), DIM), dtype=np.float32) / np.sqrt(DIM)
    x += rng.standard_normal((len(ids), nuisance.shape[0]), dtype=np.float32) @ nuisance
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), ids


def timed(
    fn: Callable[[np.ndarray], object], queries: np.ndarray, warmup: int
) -> tuple[list, np.ndarray]:
    """Run fn on each query after warm-up; return (results, per-query seconds)."""
    for q in queries[:warmup]:
        fn(q)
    out, times = [], []
    for q in queries:
        t = time.perf_counter()
        out.append(fn(q))
        times.append(time.perf_counter() - t)
    return out, np.array(times)


def run(
    name: str, model: keras.Model, G: np.ndarray, queries: np.ndarray, args: argparse.Namespace
) -> list[str]:
    """Print p50/p95 per-query latency of naive vs fast scoring and their top-k agreement; the table row."""
    t = time.perf_counter()
    scorer = SimilarityScorer(model, G, shortlist=args.shortlist)
    build_ms = (time.perf_counter() - t) * 1e3
    naive, t_naive = timed(lambda q: naive_scores(model, q, G), queries, args.warmup)
    fast, t_fast = timed(lambda q: scorer.top_k(q, args.k), queries, args.warmup)
    agree = np.mean([
        len(set(np.argsort(-s, kind="stable")[: args.k].tolist()) & set(f[0].tolist())) / args.k
        for s, f in zip(naive, fast)
    ])
    concat = model.get_layer("combine").mode == "concat"
    method = "decomposed (exact)" if concat else f"shortlist N={args.shortlist}"
    ms = lambda t, p: np.percentile(t, p) * 1e3  # noqa: E731
    print(
        f"{name:<18} naive p50 {ms(t_naive, 50):7.1f} ms  p95 {ms(t_naive, 95):7.1f} ms | "
        f"fast p50 {ms(t_fast, 50):6.2f} ms  p95 {ms(t_fast, 95):6.2f} ms "
        f"[{method}, setup {build_ms:.0f} ms] | top-{args.k} agreement {agree:.3f}",
        flush=True,
    )
    return [name, f"{ms(t_naive, 50):.1f}", f"{ms(t_naive, 95):.1f}", f"{ms(t_fast, 50):.2f}", f"{ms(t_fast, 95):.2f}",
            f"{method}, setup {build_ms:.0f} ms", f"{agree:.3f}"]


def header(k: int) -> list[str]:
    """The columns of the rows run() returns."""
    return ["combiner", "naive p50 ms", "naive p95 ms", "fast p50 ms", "fast p95 ms", "fast method",
            f"top-{k} agreement"]


def main() -> None:
    """Parse arguments and run both scenarios for every combiner."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gallery", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--shortlist", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-trained", action="store_true", help="skip the trained-model scenario")
    add_option(ap)
    args = ap.parse_args()
    report = Report(args.markdown)
    rng = np.random.default_rng(args.seed)
    keras.utils.set_random_seed(args.seed)

    print(report.note(f"gallery {args.gallery:,} x {DIM}, {args.queries} queries after {args.warmup} warm-up, "
                      f"k={args.k}, one query at a time"))
    caption = "random weights, random unit gallery"
    print(f"-- {caption}")
    G = unit_rows(args.gallery, DIM, rng)
    queries = unit_rows(args.queries, DIM, rng)
    rows = [run(combiner, build_similarity(DIM, combiner), G, queries, args) for combiner in COMBINERS]
    report.table(header(args.k), rows, f"Scenario: {caption}.")
    if args.no_trained:
        report.write()
        return
    caption = "trained 3 epochs on 10k synthetic clustered rows; gallery = unseen identities"
    print(f"-- {caption}")
    rows = []
    nuisance = np.linalg.qr(rng.standard_normal((DIM, 8)))[0].T.astype(np.float32)
    X_train, y_train = clustered(2000, 5, rng, nuisance)
    per_id = 5
    X_all, ids = clustered(args.gallery // per_id, per_id + 1, rng, nuisance)
    is_query = np.r_[np.diff(ids) != 0, True]  # last photo of each identity is held out as a query
    q_rows = rng.choice(np.flatnonzero(is_query), size=args.queries, replace=False)
    for combiner in COMBINERS:
        t = time.perf_counter()
        result = train(X_train, y_train, TrainConfig(combiner=combiner, epochs=3), progress=False)
        train_s = time.perf_counter() - t
        G = encode(result.encoder, X_all[~is_query])
        queries = encode(result.encoder, X_all[q_rows])
        label = f"{combiner} (val AUC {result.metrics['val_auc']:.3f}, train {train_s:.0f}s)"
        rows.append(run(label, result.similarity, G, queries, args))
    report.table(header(args.k), rows, f"Scenario: {caption}.")
    report.write()


if __name__ == "__main__":
    main()

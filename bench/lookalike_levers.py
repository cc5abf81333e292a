"""Look-alike levers side by side on LFW: stability, hubs, identification and CPU per match.

The protocol (docs/evaluation-levers.md): a seeded fifth of LFW's people are visitors, the gallery
is the rest; each lever is measured on the same cached embeddings (one FaceNet pass over LFW per
embedding variant: default, EMBED_FLIP, CROP_ALIGN, both), with closed-set identification on
`flask evaluate --protocol closed`'s split of the whole of LFW beside it.

  # once per variant: build a gallery of all of LFW, then export its arrays
  LOOKSLIKE_EMBED_FLIP=true flask --app app gallery build ../shared/data/lfw/images --name lfw-flip
  python bench/lookalike_levers.py export GALLERY_DIR /work/cache/lfw/flip
  # the table (minutes of NumPy on 2 cores)
  python bench/lookalike_levers.py run --cache /work/cache/lfw --markdown docs/bench/lookalike-levers.md
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from app.pipeline.networks.blas_threads import one_blas_thread_unless_set  # noqa: E402

one_blas_thread_unless_set()  # as a served worker: one match, one core
import numpy as np  # noqa: E402
from lfw_cache import VARIANTS, capped, export, load, photo_cost, subset  # noqa: E402

from app.evaluation.hubs import plot_top1_distribution  # noqa: E402
from app.evaluation.levers import Lever, LeverScorer  # noqa: E402
from app.evaluation.lookalike import (  # noqa: E402
    held_out_visitors,
    lookalike_report,
    pooled_report,
    summary_lines,
    without_raw,
)
from app.evaluation.protocols import closed_split  # noqa: E402
from app.evaluation.ranking import topk_hits  # noqa: E402
from app.pipeline.scoring.scorers import Aggregation  # noqa: E402

TIMED_QUERIES = 300
CLOSED_SEEDS = 3  # closed-set splits averaged (`flask evaluate --protocol closed` seeds 0, 1, 2)
FOLDS = 5  # each fifth of the people the visitors once
MAX, MEAN3, CENTROID = Aggregation("max"), Aggregation("mean_n", 3), Aggregation("centroid")

LEVERS: list[tuple[str, Lever]] = [
    ("default", Lever("max (best photo)")),
    ("default", Lever("mean_n (3)", MEAN3)),
    ("default", Lever("centroid", CENTROID)),
    ("default", Lever("cap 1 photo", cap=1)),
    ("default", Lever("cap 3 photos", cap=3)),
    ("default", Lever("cap 10 photos", cap=10)),
    ("default", Lever("max + znorm", correction="znorm")),
    ("default", Lever("max + center", correction="center")),
    ("default", Lever("max + asnorm", correction="asnorm")),
    ("default", Lever("max + csls", correction="csls")),
    ("default", Lever("max + isoftmax", correction="isoftmax")),
    ("default", Lever("max + mutual proximity", correction="mutual_proximity")),
    ("default", Lever("mean_n (3) + znorm", MEAN3, "znorm")),
    ("default", Lever("centroid + znorm", CENTROID, "znorm")),
    ("default", Lever("centroid + csls", CENTROID, "csls")),
    ("default", Lever("centroid + mutual proximity", CENTROID, "mutual_proximity")),
    ("default", Lever("cap 3 + znorm", correction="znorm", cap=3)),
    ("flip", Lever("EMBED_FLIP, max")),
    ("flip", Lever("EMBED_FLIP, centroid", CENTROID)),
    ("flip", Lever("EMBED_FLIP, centroid + znorm", CENTROID, "znorm")),
    ("align", Lever("CROP_ALIGN, max")),
    ("align", Lever("CROP_ALIGN, centroid", CENTROID)),
    ("flip_align", Lever("FLIP + ALIGN, max")),
    ("flip_align", Lever("FLIP + ALIGN, centroid", CENTROID)),
    ("flip_align", Lever("FLIP + ALIGN, centroid + mutual proximity", CENTROID, "mutual_proximity")),
]


def match_function(lever: Lever, gallery: dict):
    """(one query -> its first identity, served or not): the served ranking (Scorer.rank over every
    row, exact) when the lever is served, else the lever's batch code on one query."""
    from app.pipeline.scoring.identity_norm import fit_identity_norm
    from app.pipeline.scoring.scorers import CosineScorer

    labels, ids = gallery["labels"], list(gallery["identities"])
    if lever.correction not in ("none", "znorm"):
        batch = LeverScorer(lever, gallery["G"], labels, len(ids))
        return (lambda q: int(np.argmax(batch.scores(q[None])[0]))), False
    norm = None if lever.correction == "none" else fit_identity_norm(gallery["G"], labels, len(ids),
                                                                     lever.aggregation, lever.correction)
    scorer = CosineScorer(np.ascontiguousarray(gallery["G"], np.float32))
    return (lambda q: scorer.rank(q, labels, ids, 5, lever.aggregation, norm=norm)[0].label), True


def interleaved_timing(rows: list[dict]) -> None:
    """Milliseconds per match of every lever, the levers taking turns on each query (a load that
    changes during the run weighs on all of them alike); also how often the served first answer
    equals the measured (batch) one."""
    spent = np.zeros(len(rows))
    for r in rows:
        for q in r["timed"][:3]:  # warm-up: caches, first calls
            r["match"](q)
        r["top1"] = []
    for i in range(TIMED_QUERIES):
        for k, r in enumerate(rows):
            started = time.perf_counter()
            r["top1"].append(r["match"](r["timed"][i]))
            spent[k] += time.perf_counter() - started
    for k, r in enumerate(rows):
        r["ms_per_match"] = 1000 * spent[k] / TIMED_QUERIES
        r["served_equals_batch_top1"] = float(np.mean(np.array(r.pop("top1")) == r.pop("batch_top1")))
        del r["match"], r["timed"]


def measure(data: dict, lever: Lever, seed: int, folds: int) -> dict:
    """Look-alike report (folds pooled, and the first fold alone), closed-set top-1 (mean over
    CLOSED_SEEDS splits) and what times its matches (interleaved_timing) of one lever on one variant."""
    per_fold = []
    for fold in range(folds):
        gallery_rows, probe_rows = held_out_visitors(data["names"], seed, fold=fold)
        gallery = capped(subset(data, gallery_rows), lever.cap)
        n = len(gallery["identities"])
        scorer = LeverScorer(lever, gallery["G"], gallery["labels"], n, seed)
        Q, groups = data["embeddings"][probe_rows], data["names"][probe_rows]
        per_fold.append(lookalike_report(scorer.scores, Q, groups, n, np.bincount(gallery["labels"], minlength=n),
                                         gallery["identities"], seed=seed))
        if fold == 0:
            timed = Q[:TIMED_QUERIES]
            match, served = match_function(lever, gallery)
            timing = {"timed": timed, "match": match, "served": served,
                      "batch_top1": np.argmax(scorer.scores(timed), axis=1)}
    closed = []
    for closed_seed in range(seed, seed + CLOSED_SEEDS):
        split = closed_split(data["names"], closed_seed)
        part = capped(subset(data, split.gallery_rows), lever.cap)
        scorer = LeverScorer(lever, part["G"], part["labels"], len(part["identities"]), seed)
        truth = np.searchsorted(part["identities"], data["names"][split.probe_rows])
        closed.append(topk_hits(scorer.scores(data["embeddings"][split.probe_rows]), truth)["top1"])
    return {"pooled": pooled_report(per_fold), "fold0": per_fold[0], "closed": {"top1": float(np.mean(closed)),
            "per_split": closed}, **timing}


def paired_differences(rows: list[dict], draws: int = 1000) -> None:
    """Each lever's stability minus the first lever's, over the same visitors (pooled), with a 95%
    bootstrap interval over visitors: what a difference must exceed to be more than noise."""
    rng = np.random.default_rng(0)
    base = rows[0]["pooled"]["raw"]["stability"]
    for r in rows:
        r["vs_first"] = {}
        for k, (_, agree, overlap) in r["pooled"]["raw"]["stability"].items():
            for name, mine, theirs in (("top1_agreement", agree, base[k][1]), ("top5_overlap", overlap, base[k][2])):
                d = mine - theirs
                means = d[rng.integers(0, len(d), (draws, len(d)))].mean(axis=1)
                low, high = np.percentile(means, [2.5, 97.5])
                r["vs_first"][f"{k} photo(s) {name}"] = [float(d.mean()), float(low), float(high)]


def uptime() -> str:
    """The machine's load, as `uptime` prints it."""
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def markdown_table(rows: list[dict], part: str) -> list[str]:
    """The levers as a Markdown table (a local writer: no shared bench/report.py helper on this branch)."""
    cols = ["lever", "top-1 agr. (1 photo)", "top-5 ovl. (1)", "top-1 agr. (2 photos)", "top-1 agr. (3 photos)",
            "top-5 ovl. (3)", "hub share", "fair hub share", "distinct top-1s", "closed top-1", "Δ closed (points)",
            "scoring ms/match", "photo ms"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    base = rows[0]["closed"]["top1"]
    nan = {"top1_agreement": float("nan"), "top5_overlap": float("nan")}
    for r in rows:
        s, h = r[part]["stability"], r[part]["hubs"]
        k2, k3 = s.get(2, nan), s.get(3, nan)
        cells = [r["lever"], f"{s[1]['top1_agreement']:.3f}", f"{s[1]['top5_overlap']:.3f}",
                 f"{k2['top1_agreement']:.3f}", f"{k3['top1_agreement']:.3f}", f"{k3['top5_overlap']:.3f}",
                 f"{h['hub_share']:.3f}", f"{h['hub_share_fair']:.3f}", f"{h['distinct_top1']:.0f}",
                 f"{r['closed']['top1']:.4f}", f"{100 * (r['closed']['top1'] - base):+.2f}",
                 f"{r['ms_per_match']:.2f}" + ("" if r["served"] else " *"), f"{r['photo_ms']:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def run(args) -> None:
    """Every lever whose variant is cached, one table."""
    started, load_before = time.time(), uptime()
    variants = {v: load(args.cache, v) for v in VARIANTS}
    rows = []
    for variant, lever in LEVERS:
        if variants[variant] is None or (args.only and not any(o in lever.name for o in args.only)):
            continue
        print(f"{lever.name} ...", file=sys.stderr, flush=True)
        rows.append({"lever": lever.name, "variant": variant, **measure(variants[variant], lever, args.seed,
                                                                        args.folds)})
    interleaved_timing(rows)
    paired_differences(rows)
    photo_ms = photo_cost(args.photos, args.lfw) if args.photos else {}
    for r in rows:
        r["photo_ms"] = photo_ms.get(r["variant"], float("nan"))
    print("detect + embed ms per photo:", json.dumps({k: round(v, 1) for k, v in photo_ms.items()}))
    for part in ("pooled", "fold0"):
        print(f"== {part}")
        for line in summary_lines({r["lever"]: r[part] for r in rows}):
            print(line)
    first = rows[0]
    context = {"seed": args.seed, "folds": args.folds, "closed_seeds": CLOSED_SEEDS, "uptime_before": load_before,
               "uptime_after": uptime(), "seconds": round(time.time() - started),
               **{f"{part}_{key}": first[part][key] for part in ("pooled", "fold0")
                  for key in ("gallery_identities", "visitors", "photos")},
               "set_visitors": {k: v["visitors"] for k, v in first["pooled"]["stability"].items()},
               "fold0_set_visitors": {k: v["visitors"] for k, v in first["fold0"]["stability"].items()},
               "photo_ms": photo_ms,
               "hubs": first["fold0"]["hubs"]["hubs"]}
    print(json.dumps(context, indent=1))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"context": context, "levers": [{**r, "pooled": without_raw(r["pooled"]),
                                                       "fold0": without_raw(r["fold0"])} for r in rows]},
                      f, indent=1, default=float)
    if args.plot:
        chosen = {r["lever"]: r["pooled"]["hubs"] for r in rows if r is first or r["lever"] in args.plot_levers}
        plot_top1_distribution(chosen, args.plot)
    if args.markdown:
        Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write(f"<!-- python bench/lookalike_levers.py run --cache {args.cache} --seed {args.seed} "
                    f"--folds {args.folds}; uptime: {context['uptime_after']} -->\n\n"
                    f"{args.folds} folds pooled ({context['pooled_visitors']} visitors, "
                    f"{context['pooled_photos']} photos):\n\n" + "\n".join(markdown_table(rows, "pooled")) +
                    f"\n\nThe seeded fifth alone ({context['fold0_visitors']} visitors, {context['fold0_photos']} "
                    "photos):\n\n" + "\n".join(markdown_table(rows, "fold0")) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("export", help="copy a built gallery's arrays into a cache folder")
    ex.add_argument("gallery_dir")
    ex.add_argument("out")
    go = sub.add_parser("run", help="measure every lever whose variant is cached")
    go.add_argument("--cache", default="/work/cache/lfw")
    go.add_argument("--seed", type=int, default=0)
    go.add_argument("--folds", type=int, default=FOLDS)
    go.add_argument("--photos", type=int, default=60, help="LFW photos timed per embedding variant (0: none)")
    go.add_argument("--lfw", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "lfw" / "images"))
    go.add_argument("--only", nargs="*", help="levers whose name contains one of these")
    go.add_argument("--markdown")
    go.add_argument("--json")
    go.add_argument("--plot", help="PNG of the top-1 distribution")
    go.add_argument("--plot-levers", nargs="*", default=[], help="levers drawn beside the served default")
    args = parser.parse_args()
    if args.command == "export":
        export(args.gallery_dir, args.out)
    else:
        run(args)


if __name__ == "__main__":
    main()

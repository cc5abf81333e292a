"""Cosine vs the learned model for each loss: trains with `flask train`, evaluates with `flask evaluate`.

Prints a Markdown table (and writes it with --markdown FILE). Usage:
    python bench/losses.py --gallery lfw [--combiner absprod] [--epochs 30] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from report import Report, add_option

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
LOSSES = ("quadruplet", "triplet", "triplet-semihard", "contrastive")


def main() -> None:
    """Train and evaluate one model per loss on the same split; print one table."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--gallery", default="lfw")
    ap.add_argument("--combiner", default="absprod")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    add_option(ap)
    args = ap.parse_args()
    results = Report(args.markdown)
    from app import create_app

    runner = create_app({"EAGER_LOAD": False}).test_cli_runner()
    rows = {}
    for loss in LOSSES:
        name = f"{args.gallery}-{loss}-{args.combiner}"
        out = runner.invoke(args=["train", "--gallery", args.gallery, "--loss", loss, "--combiner", args.combiner,
                                  "--epochs", str(args.epochs), "--seed", str(args.seed), "--out", name])
        if out.exit_code:
            raise SystemExit(out.output or repr(out.exception))
        print(out.output.strip().splitlines()[-1], flush=True)
        out = runner.invoke(args=["evaluate", "--gallery", args.gallery, "--model", name, "--json"])
        if out.exit_code:
            raise SystemExit(out.output or repr(out.exception))
        report = json.loads(out.output)
        for scorer, r in report["scorers"].items():
            key = scorer if scorer.startswith("cosine") else f"{scorer} [{loss}]"
            rows[key] = r
    caption = (f"gallery {args.gallery}, combiner {args.combiner}, {args.epochs} epochs, seed {args.seed}; "
               f"held-out identities: {report['test_identities']}, probes: {report['probes']}, "
               f"gallery rows: {report['gallery_rows']}, test pairs: {report['test_pairs']}")
    print(f"\n{caption}\n")
    print(results.table(["scorer", "top-1", "top-5", "ROC AUC", "accuracy", "F1"],
                        [[key, *(f"{r[m]:.4f}" for m in ("top1", "top5", "auc", "accuracy", "f1"))]
                         for key, r in rows.items()], caption))
    results.write()


if __name__ == "__main__":
    main()

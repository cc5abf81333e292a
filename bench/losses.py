"""Cosine vs the learned model for each loss: trains with `flask train`, evaluates with `flask evaluate`.

Prints the markdown table that the README reports. Usage:
    python bench/losses.py --gallery lfw [--combiner absprod] [--epochs 30]
"""

from __future__ import annotations

import argparse
import json
import os
import sys

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
    args = ap.parse_args()
    from app import create_app

    runner = create_app({"EAGER_LOAD": False}).test_cli_runner()
    rows = {}
    for loss in LOSSES:
        name = f"{args.gallery}-{loss}-{args.combiner}"
        out = runner.invoke(args=["train", "--gallery", args.gallery, "--loss", loss, "--combiner", args.combiner,
                                  "--epochs", str(args.epochs), "--seed", str(args.seed), "--out", name])
        if out.exit_code:
            raise SystemExit(out.output)
        print(out.output.strip().splitlines()[-1], flush=True)
        out = runner.invoke(args=["evaluate", "--gallery", args.gallery, "--model", name, "--json"])
        if out.exit_code:
            raise SystemExit(out.output)
        report = json.loads(out.output)
        for scorer, r in report["scorers"].items():
            key = scorer if scorer.startswith("cosine") else f"{scorer} [{loss}]"
            rows[key] = r
    print(f"\nheld-out identities: {report['test_identities']}, probes: {report['probes']}, "
          f"gallery rows: {report['gallery_rows']}, test pairs: {report['test_pairs']}\n")
    print("| scorer | top-1 | top-5 | ROC AUC | accuracy | F1 |")
    print("| --- | --- | --- | --- | --- | --- |")
    for key, r in rows.items():
        print(f"| {key} | {r['top1']:.4f} | {r['top5']:.4f} | {r['auc']:.4f} | {r['accuracy']:.4f} | {r['f1']:.4f} |")


if __name__ == "__main__":
    main()

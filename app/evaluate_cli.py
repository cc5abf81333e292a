"""`flask evaluate-pairs`: the LFW pairs protocol on the app's own pipeline."""

from __future__ import annotations

import json
import os
from collections import Counter

import click
import numpy as np
from flask import current_app
from flask.cli import with_appcontext

from app.batch import embed_files
from app.config import calibration_path, galleries_dir
from app.engine import get_engine
from app.errors import StartupError
from app.gallery import Gallery, pipeline_settings
from app.pairs import distances, fit_calibration, kfold_report, read_pairs, roc_points
from app.verify import load_calibration, save_calibration
from models.evaluation import plot_roc


def gallery_cache(images_dir: str) -> dict[str, np.ndarray]:
    """Embeddings already computed by a gallery built from images_dir with the same settings."""
    root = galleries_dir(current_app)
    wanted = os.path.realpath(images_dir)
    for name in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        try:
            gallery = Gallery.load(os.path.join(root, name))
            gallery.check_pipeline(current_app.config)  # other settings: not the pipeline's embeddings
        except StartupError:
            continue
        if os.path.realpath(gallery.manifest.get("source_dir", "")) == wanted:
            return {os.path.realpath(os.path.join(wanted, row["source"])): np.asarray(gallery.embeddings[i])
                    for i, row in enumerate(gallery.rows)}
    return {}


def pair_embeddings(paths: list[str], images_dir: str) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Embedding of every usable path (from a gallery cache where possible) and skip reasons."""
    cache = gallery_cache(images_dir)
    found = {p: cache[os.path.realpath(p)] for p in paths if os.path.realpath(p) in cache}
    missing = {p: "missing" for p in paths if p not in found and not os.path.isfile(p)}
    todo = [p for p in paths if p not in found and p not in missing]
    if found:
        click.echo(f"{len(found)} of {len(paths)} photos reuse gallery embeddings; embedding {len(todo)}")
    engine = get_engine()
    computed, skipped = embed_files(todo, engine.detector, engine.embedder, current_app.config,
                                    desc="pairs")
    return {**found, **computed}, {**missing, **skipped}


@click.command("evaluate-pairs")
@click.argument("pairs_file", type=click.Path(exists=True, dir_okay=False))
@click.argument("images_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Report folder (default reports/pairs-<PAIRS_FILE name>).")
@click.option("--save", is_flag=True,
              help="Fit the calibration on these pairs and save it as the app's default.")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON report.")
@with_appcontext
def evaluate_pairs_command(pairs_file: str, images_dir: str, out_dir: str | None, save: bool,
                           as_json: bool) -> None:
    """Verification on LFW-format pairs: k-fold accuracy, ROC AUC, F1, calibration; ROC PNG."""
    pairs = read_pairs(pairs_file, images_dir)
    paths = sorted({p for pair in pairs for p in (pair.path1, pair.path2)})
    emb, skipped = pair_embeddings(paths, images_dir)
    kept = [p for p in pairs if p.path1 in emb and p.path2 in emb]
    reasons = Counter(skipped.get(p.path1) or skipped.get(p.path2) for p in pairs
                      if p.path1 not in emb or p.path2 not in emb)
    if len({p.same for p in kept}) < 2:
        raise click.ClickException(f"only {len(kept)} of {len(pairs)} pairs resolve: need same and "
                                   "different pairs")
    dist = distances(np.stack([emb[p.path1] for p in kept]), np.stack([emb[p.path2] for p in kept]))
    same = np.array([p.same for p in kept])
    folds = np.array([p.fold for p in kept])
    facenet_calibration = load_calibration(calibration_path(current_app), current_app.config["VERIFY_CALIBRATION"])
    report = kfold_report(dist, same, folds, facenet_calibration)
    report.update({"pairs_file": os.path.abspath(pairs_file), "pairs_total": len(pairs),
                   "pairs_skipped": len(pairs) - len(kept), "skipped_by_reason": dict(reasons),
                   "score": "euclidean distance of L2-normalized FaceNet embeddings",
                   "pipeline": pipeline_settings(current_app.config)})
    out_dir = out_dir or os.path.join("reports", "pairs-" + os.path.splitext(os.path.basename(pairs_file))[0])
    os.makedirs(out_dir, exist_ok=True)
    plot_roc({"FaceNet distance": roc_points(dist, same)}, os.path.join(out_dir, "roc.png"))
    if save:
        calibration = fit_calibration(dist, same, f"{os.path.basename(pairs_file)} ({len(kept)} pairs)")
        path = calibration_path(current_app)
        save_calibration(calibration, path)
        report["calibration_saved"] = {"path": path, **calibration.to_dict()}
    with open(os.path.join(out_dir, "report.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"{'folds':>22}: {report['folds']}")
    click.echo(f"{'accuracy':>22}: {report['accuracy_mean']:.4f} +- {report['accuracy_std']:.4f}")
    click.echo(f"{'ROC AUC':>22}: {report['auc']:.4f}")
    click.echo(f"{'F1':>22}: {report['f1']:.4f}")
    click.echo(f"{'ECE (cross-validated)':>22}: {report['calibration_cv']['ece']:.4f}")
    if "calibration_stored" in report:
        click.echo(f"{'ECE (app calibration)':>22}: {report['calibration_stored']['ece']:.4f}")
    click.echo("reliability (cross-validated): " + "  ".join(
        f"{r['bin']}: {r['observed']:.2f} (n={r['count']})" for r in report["calibration_cv"]["reliability"]
        if r["count"]))
    click.echo(f"pairs: {len(kept)} evaluated, {report['pairs_skipped']} skipped "
               f"({', '.join(f'{n} {k}' for k, n in reasons.items()) or 'none'}); report in {out_dir}")


@click.command("evaluate-check")
@click.option("--gallery", "gallery_name", required=True, help="A gallery of identities with 2+ photos.")
@click.option("--max-anchors", type=int, default=None, help="Anchors per check: 1..N (default CHECK_MAX_ANCHORS).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--save", is_flag=True, help="Save the fitted calibration as the app's subject-check calibration.")
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def evaluate_check_command(gallery_name: str, max_anchors: int | None, seed: int, save: bool,
                           as_json: bool) -> None:
    """Simulated subject checks on a gallery: calibration of the median anchor distance."""
    from app.check_eval import evaluate_checks
    from app.cli import open_gallery

    gallery = open_gallery(gallery_name)
    emb, names = np.asarray(gallery.embeddings), gallery.row_names
    pair = load_calibration(calibration_path(current_app), current_app.config["VERIFY_CALIBRATION"])
    report, calibration = evaluate_checks(emb, names, max_anchors or current_app.config["CHECK_MAX_ANCHORS"],
                                          seed, pair)
    if save:
        path = calibration_path(current_app, "check")
        save_calibration(calibration, path)
        report["calibration_saved"] = path
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"{report['checks']} checks ({report['genuine']} genuine), 1-{report['max_anchors']} anchors: "
               f"AUC {report['auc']:.4f}, accuracy {report['accuracy']:.4f}, F1 {report['f1']:.4f}")
    click.echo(f"ECE: {report['ece_cross_fitted']:.4f} with a check calibration fitted on the other half "
               f"of the identities; {report['ece_pair_calibration']:.4f} with the pair calibration")
    c = report["calibration"]
    click.echo(f"calibration: p = sigmoid({c['a']:.3f} + {c['b']:.3f} * median distance), threshold "
               f"{c['threshold']:.4f}" + (f"; saved to {report['calibration_saved']}" if save else ""))

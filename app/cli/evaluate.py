"""Evaluation commands: `flask evaluate`, `flask evaluate-pairs`, `flask evaluate-check`."""

from __future__ import annotations

import json
import os

import click
import numpy as np
from flask import current_app
from flask.cli import with_appcontext

from app.cli.common import open_gallery
from app.cli.evaluate_lookalike import lookalike_command
from app.evaluation.checks import evaluate_checks
from app.evaluation.gallery_training import model_exists, train_config
from app.evaluation.identification import evaluate_gallery
from app.evaluation.lookalike import VISITOR_FRACTION
from app.evaluation.pairs import evaluate_pairs
from app.evaluation.protocols import PROTOCOLS, make_split
from app.evaluation.runs import AGGREGATIONS, run_protocol, table
from app.extensions import get_engine
from app.instance_paths import calibration_path, models_dir
from app.pipeline.scoring.verification import load_calibration, save_calibration


def echo_json_or(report: dict, as_json: bool) -> bool:
    """Print the report as JSON when asked; True when done."""
    if as_json:
        click.echo(json.dumps(report, indent=2))
    return as_json


@click.command("evaluate")
@click.option("--gallery", "gallery_name", required=True)
@click.option("--protocol", type=click.Choice(PROTOCOLS + ("all",)), default=None,
              help="closed (seed's setting), lookalike (stability) or open (held-out identities): each trains "
                   "its networks on its own split and prints cosine vs learned; without it, the held-out report. "
                   "lookalike alone: stability with 1-3 photos, hubs and certainty of the served scoring "
                   "(--train: its networks instead).")
@click.option("--visitors", "visitor_dirs", multiple=True, type=click.Path(exists=True, file_okay=False),
              help="lookalike: folders of visitors' photos (DIR/<person>/<photos>, or DIR/<photos> for one "
                   "person) instead of a seeded fifth of the gallery's people; repeatable.")
@click.option("--visitor-fraction", type=click.FloatRange(0.01, 0.9), default=VISITOR_FRACTION, show_default=True,
              help="lookalike: share of the gallery's people held out as visitors.")
@click.option("--folds", type=click.IntRange(1, 10), default=1, show_default=True,
              help="lookalike: each of the first N disjoint visitor fractions in turn, figures pooled "
                   "(5 with the default fraction: every person is a visitor once).")
@click.option("--scoring", "scorings", multiple=True,
              help="lookalike: AGGREGATE[+CORRECTION] to measure, e.g. max, centroid, max+znorm; repeatable "
                   "[default: the served SCORE_AGGREGATE+HUB_CORRECTION].")
@click.option("--train", is_flag=True, help="lookalike: train and compare its networks (as --protocol all does).")
@click.option("--epochs", type=int, default=None, help="Training epochs per protocol [TrainConfig default].")
@click.option("--loss", default=None, help="Metric loss per protocol [TrainConfig default].")
@click.option("--encoder-init", type=click.Choice(["identity", "wccn"]), default=None,
              help="Encoder start: identity (cosine) or within-class whitening [TrainConfig default: identity].")
@click.option("--monitor-aggregate", type=click.Choice(AGGREGATIONS), default="max", show_default=True,
              help="Aggregation of the early-stopping validation metric.")
@click.option("--model", "model_name", default=None, help="A trained model to compare with cosine.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Split seed when no model is given (a model brings its own split).")
@click.option("--test-fraction", type=float, default=0.2, show_default=True)
@click.option("--pairs", "n_pairs", type=int, default=6000, show_default=True)
@click.option("--max-probes-per-identity", type=int, default=10, show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None)
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def evaluate_command(gallery_name, protocol, visitor_dirs, visitor_fraction, folds, scorings, train, epochs, loss,
                     encoder_init, monitor_aggregate, model_name, seed, test_fraction, n_pairs,
                     max_probes_per_identity, out_dir, as_json) -> None:
    """Protocols closed / lookalike / open (one table), or the held-out report of a trained model."""
    gallery = open_gallery(gallery_name)
    if protocol == "lookalike" and not train:
        config = current_app.config
        served = f"{config['SCORE_AGGREGATE']}+{config['HUB_CORRECTION']}".removesuffix("+none")
        return lookalike_command(gallery, visitor_dirs, visitor_fraction, folds, scorings or (served,), seed,
                                 out_dir or os.path.join("reports", f"lookalike-{gallery.name}"), as_json)
    if protocol:
        return _protocols(gallery, protocol, seed, dict(epochs=epochs, loss=loss, seed=seed, encoder_init=encoder_init),
                          monitor_aggregate, out_dir, as_json)
    model_dir = os.path.join(models_dir(current_app), model_name) if model_name else None
    if model_dir and not model_exists(model_dir):
        raise click.ClickException(f"no model at {model_dir}: run `flask train --gallery {gallery_name} "
                                   f"--out {model_name}`")
    out_dir = out_dir or os.path.join("reports", f"evaluate-{gallery_name}-{model_name or 'cosine'}")
    report = evaluate_gallery(gallery, model_dir, seed, test_fraction, n_pairs, max_probes_per_identity,
                              out_dir)
    if echo_json_or(report, as_json):
        return
    click.echo(f"held-out identities: {report['test_identities']}, probes: {report['probes']}, "
               f"gallery rows searched: {report['gallery_rows']}, test pairs: {report['test_pairs']}")
    click.echo(f"{'scorer':28s} {'top-1':>7s} {'top-5':>7s} {'AUC':>7s} {'acc':>7s} {'F1':>7s}")
    for name, r in report["scorers"].items():
        click.echo(f"{name:28s} {r['top1']:7.4f} {r['top5']:7.4f} {r['auc']:7.4f} "
                   f"{r['accuracy']:7.4f} {r['f1']:7.4f}")
    click.echo(f"report, ROC and sample matches in {out_dir}")


def _protocols(gallery, protocol, seed, options, monitor_aggregate, out_dir, as_json) -> None:
    """Run the protocols asked, each in its own report folder, and print one table."""
    X, names = np.asarray(gallery.embeddings), gallery.row_names
    out_dir = out_dir or os.path.join("reports", f"protocols-{gallery.name}")
    reports = {}
    for name in PROTOCOLS if protocol == "all" else (protocol,):
        click.echo(f"{name}: training and scoring ...", err=True)
        reports[name] = run_protocol(X, names, make_split(name, names, seed), train_config(options),
                                     os.path.join(out_dir, name), monitor_aggregation=monitor_aggregate)
    if echo_json_or(reports, as_json):
        return
    for name, r in reports.items():
        click.echo(f"{name}: {r['probes']} probes of {r['probe_identities']} identities, gallery "
                   f"{r['gallery_rows']} rows of {r['gallery_identities']} identities; networks: best epoch "
                   f"{r['training']['best_epoch']} of {r['training']['epochs_run']}")
    for line in table(reports):
        click.echo(line)
    click.echo(f"reports (JSON) and plots (ROC, loss curves, stability) in {out_dir}")


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
    out_dir = out_dir or os.path.join("reports", "pairs-" + os.path.splitext(os.path.basename(pairs_file))[0])
    try:
        report = evaluate_pairs(pairs_file, images_dir, out_dir, get_engine(),
                                calibration_path(current_app) if save else None, announce=click.echo)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    if echo_json_or(report, as_json):
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
    reasons = report["skipped_by_reason"]
    click.echo(f"pairs: {report['pairs']} evaluated, {report['pairs_skipped']} skipped "
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
    gallery = open_gallery(gallery_name)
    emb, names = np.asarray(gallery.embeddings), gallery.row_names
    pair = load_calibration(calibration_path(current_app), current_app.config["VERIFY_CALIBRATION"])
    report, calibration = evaluate_checks(emb, names, max_anchors or current_app.config["CHECK_MAX_ANCHORS"],
                                          seed, pair)
    if save:
        path = calibration_path(current_app, "check")
        save_calibration(calibration, path)
        report["calibration_saved"] = path
    if echo_json_or(report, as_json):
        return
    click.echo(f"{report['checks']} checks ({report['genuine']} genuine), 1-{report['max_anchors']} anchors: "
               f"AUC {report['auc']:.4f}, accuracy {report['accuracy']:.4f}, F1 {report['f1']:.4f}")
    click.echo(f"ECE: {report['ece_cross_fitted']:.4f} with a check calibration fitted on the other half "
               f"of the identities; {report['ece_pair_calibration']:.4f} with the pair calibration")
    c = report["calibration"]
    click.echo(f"calibration: p = sigmoid({c['a']:.3f} + {c['b']:.3f} * median distance), threshold "
               f"{c['threshold']:.4f}" + (f"; saved to {report['calibration_saved']}" if save else ""))

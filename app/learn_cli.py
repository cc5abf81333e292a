"""`flask train` and `flask evaluate`: the learned encoder + similarity networks on a gallery."""

from __future__ import annotations

import json
import os

import click
import numpy as np
from flask import current_app
from flask.cli import with_appcontext

from app.cli import open_gallery
from app.config import models_dir
from app.learned import held_out_split


def validation_calibration(result, X: np.ndarray, names: np.ndarray, config):
    """Logistic p(same | 1 - network output) on the validation pairs, and the model's threshold."""
    from app.learned import network_distances
    from models.calibration import Calibration, fit_logistic
    from models.evaluation import make_pairs

    rows = np.flatnonzero(np.isin(names, result.val_identities))
    i, j, same = make_pairs(names[rows], config.val_pairs, config.seed)
    dist = network_distances(result.encoder, result.similarity, X[rows[i]], X[rows[j]])
    a, b = fit_logistic(dist, same)
    return Calibration(a=a, b=b, threshold=1.0 - result.threshold, higher_is_same=False,
                       score="1 - similarity network output",
                       fitted_on=f"{len(same)} validation pairs of {len(result.val_identities)} identities")


@click.command("train")
@click.option("--gallery", "gallery_name", required=True, help="Gallery whose embeddings to train on.")
@click.option("--loss", type=click.Choice(["quadruplet", "triplet", "triplet-semihard", "contrastive"]),
              default="quadruplet", show_default=True)
@click.option("--epochs", type=int, default=30, show_default=True)
@click.option("--batch-identities", type=int, default=16, show_default=True, help="P identities per batch.")
@click.option("--photos-per-identity", type=int, default=4, show_default=True, help="K photos per identity.")
@click.option("--lr", type=float, default=1e-3, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds the splits and the training.")
@click.option("--combiner", type=click.Choice(["concat", "absprod", "chi2"]), default=None,
              help="Pair combiner of the similarity network (default: the training default).")
@click.option("--test-fraction", type=float, default=0.2, show_default=True,
              help="Identities held out of training entirely, for `flask evaluate`.")
@click.option("--out", "model_name", required=True, help="Model name: instance/models/MODEL_NAME/.")
@with_appcontext
def train_command(gallery_name, loss, epochs, batch_identities, photos_per_identity, lr, seed,
                  combiner, test_fraction, model_name) -> None:
    """Train the encoder and similarity networks on a gallery's cached FaceNet embeddings."""
    from models.training import TrainConfig, save_model, train

    gallery = open_gallery(gallery_name)
    X, names = np.asarray(gallery.embeddings), gallery.row_names
    trainval_ids, test_ids = held_out_split(names, test_fraction, seed)
    rows = np.isin(names, trainval_ids)
    options = dict(loss=loss, epochs=epochs, batch_identities=batch_identities,
                   photos_per_identity=photos_per_identity, lr=lr, seed=seed)
    if combiner:
        options["combiner"] = combiner
    config = TrainConfig(**options)
    click.echo(f"training on {int(rows.sum())} faces of {len(trainval_ids)} identities "
               f"({len(test_ids)} identities held out for evaluation), loss={config.loss}")
    result = train(X[rows], names[rows], config)
    out = save_model(result, os.path.join(models_dir(current_app), model_name))
    meta_file = out / "config.json"
    meta = json.loads(meta_file.read_text())
    meta.update({"gallery": gallery_name, "gallery_rows": len(gallery), "test_fraction": test_fraction,
                 "test_identities": [str(i) for i in test_ids],
                 "calibration": validation_calibration(result, X, names, config).to_dict()})
    meta_file.write_text(json.dumps(meta, indent=2))
    m = result.metrics
    click.echo(f"model {model_name}: best epoch {result.best_epoch}/{len(result.history['val_loss'])}, "
               f"val loss {result.initial_val_loss:.4f} -> {m['val_loss']:.4f}, val AUC {m['val_auc']:.4f} "
               f"(input cosine {m['val_auc_input_cosine']:.4f}), threshold {result.threshold:.4f}; saved in {out}")


@click.command("evaluate")
@click.option("--gallery", "gallery_name", required=True)
@click.option("--model", "model_name", default=None, help="A trained model to compare with cosine.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Split seed when no model is given (a model brings its own split).")
@click.option("--test-fraction", type=float, default=0.2, show_default=True)
@click.option("--pairs", "n_pairs", type=int, default=6000, show_default=True)
@click.option("--max-probes-per-identity", type=int, default=10, show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None)
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def evaluate_command(gallery_name, model_name, seed, test_fraction, n_pairs, max_probes_per_identity,
                     out_dir, as_json) -> None:
    """Held-out identities: identification top-1/top-5 and pair verification, cosine vs learned."""
    from app.learned import evaluate_gallery

    gallery = open_gallery(gallery_name)
    model_dir = os.path.join(models_dir(current_app), model_name) if model_name else None
    if model_dir and not os.path.isfile(os.path.join(model_dir, "config.json")):
        raise click.ClickException(f"no model at {model_dir}: run `flask train --gallery {gallery_name} "
                                   f"--out {model_name}`")
    out_dir = out_dir or os.path.join("reports", f"evaluate-{gallery_name}-{model_name or 'cosine'}")
    report = evaluate_gallery(gallery, model_dir, seed, test_fraction, n_pairs, max_probes_per_identity,
                              out_dir)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"held-out identities: {report['test_identities']}, probes: {report['probes']}, "
               f"gallery rows searched: {report['gallery_rows']}, test pairs: {report['test_pairs']}")
    click.echo(f"{'scorer':28s} {'top-1':>7s} {'top-5':>7s} {'AUC':>7s} {'acc':>7s} {'F1':>7s}")
    for name, r in report["scorers"].items():
        click.echo(f"{name:28s} {r['top1']:7.4f} {r['top5']:7.4f} {r['auc']:7.4f} "
                   f"{r['accuracy']:7.4f} {r['f1']:7.4f}")
    click.echo(f"report, ROC and sample matches in {out_dir}")

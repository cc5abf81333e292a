"""`flask train`: the learned encoder + similarity networks on a gallery's embeddings."""

from __future__ import annotations

import os

import click
from flask import current_app
from flask.cli import with_appcontext

from app.cli.common import open_gallery
from app.evaluation.gallery_training import COMBINERS, LOSSES, train_defaults, train_on_gallery, verdict_lines
from app.instance_paths import models_dir
from app.pipeline.networks.install import ConversionError
from app.pipeline.scoring.scorers import Aggregation

DEFAULTS = train_defaults()  # TrainConfig's defaults, shown in --help, never retyped here


@click.command("train")
@click.option("--gallery", "gallery_name", required=True, help="Gallery whose embeddings to train on.")
@click.option("--loss", type=click.Choice(LOSSES), help=f"Metric loss [default: {DEFAULTS['loss']}].")
@click.option("--epochs", type=int, help=f"[default: {DEFAULTS['epochs']}]")
@click.option("--batch-identities", type=int, help=f"P identities per batch [default: {DEFAULTS['batch_identities']}].")
@click.option("--photos-per-identity", type=int,
              help=f"K photos per identity [default: {DEFAULTS['photos_per_identity']}].")
@click.option("--lr", type=float, help=f"Learning rate [default: {DEFAULTS['lr']}].")
@click.option("--seed", type=int, help=f"Seeds the splits and the training [default: {DEFAULTS['seed']}].")
@click.option("--combiner", type=click.Choice(COMBINERS),
              help=f"Pair combiner of the similarity network [default: {DEFAULTS['combiner']}].")
@click.option("--test-fraction", type=float, default=None,
              help="Identities held out of training entirely, for `flask evaluate --model` [default: 0.2 with "
                   "--out, 0 for the gallery's own model].")
@click.option("--out", "model_name", default=None,
              help="Model name: instance/models/MODEL_NAME/ [default: the gallery's own model, named as the "
                   "gallery, which MATCH_MODEL=auto serves].")
@with_appcontext
def train_command(gallery_name, loss, epochs, batch_identities, photos_per_identity, lr, seed,
                  combiner, test_fraction, model_name) -> None:
    """Train the encoder and similarity networks on a gallery's cached FaceNet embeddings."""
    gallery = open_gallery(gallery_name)
    if test_fraction is None:
        test_fraction = 0.2 if model_name else 0.0
    model_name = model_name or gallery.name
    options = dict(loss=loss, epochs=epochs, batch_identities=batch_identities,
                   photos_per_identity=photos_per_identity, lr=lr, seed=seed, combiner=combiner)
    aggregate = Aggregation.from_config(current_app.config)  # as served: SCORE_AGGREGATE with SCORE_MEAN_N
    try:
        run = train_on_gallery(gallery, os.path.join(models_dir(current_app), model_name), test_fraction, options,
                               announce=click.echo, aggregation=aggregate)
    except ConversionError as exc:  # the Keras weights are saved; serving them needs TensorFlow
        raise click.ClickException(str(exc)) from exc
    result, m = run.result, run.result.metrics
    click.echo(f"model {model_name}: best epoch {result.best_epoch}/{len(result.history['val_loss'])}, "
               f"val loss {result.initial_val_loss:.4f} -> {m['val_loss']:.4f}, val AUC {m['val_auc']:.4f} "
               f"(input cosine {m['val_auc_input_cosine']:.4f}), threshold {result.threshold:.4f}; saved in {run.out}")
    click.echo(f"ONNX export (served without TensorFlow): {run.export.summary()}")
    for line in verdict_lines(run.verdict, aggregate.method):
        click.echo(line)

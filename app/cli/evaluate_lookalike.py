"""`flask evaluate --protocol lookalike`: stability, hubs and certainty of the served scoring."""

from __future__ import annotations

import json
import os

import click
import numpy as np

from app.evaluation.hubs import plot_top1_distribution
from app.evaluation.lookalike import (
    held_out_visitors,
    lookalike_report,
    parse_scoring,
    pooled_report,
    served_scores,
    summary_lines,
    without_raw,
)
from app.evaluation.stability import plot_stability
from app.extensions import get_engine
from app.pipeline.builders.photo_batches import list_photos
from app.pipeline.errors import LooksLikeError
from app.pipeline.galleries.reader import Gallery


def visitor_photos(dirs) -> list[tuple[str, str]]:
    """(visitor, path) of every photo: DIR/<person>/<photos>, or DIR/<photos> as one person named DIR."""
    items = []
    for folder in dirs:
        nested = list_photos(folder)
        if nested:
            items += nested
        else:
            name = os.path.basename(os.path.normpath(folder))
            items += [(name, os.path.join(folder, f)) for f in sorted(os.listdir(folder))
                      if os.path.isfile(os.path.join(folder, f)) and not f.startswith(".")]
    return items


def embed_visitors(dirs) -> tuple[np.ndarray, np.ndarray, dict]:
    """(embeddings [P, d], visitor of each, photos skipped by reason) through the served per-photo path."""
    engine, rows, groups, skipped = get_engine(), [], [], {}
    items = visitor_photos(dirs)
    with click.progressbar(items, label="visitor photos", file=click.get_text_stream("stderr")) as bar:
        for visitor, path in bar:
            with open(path, "rb") as f:
                data = f.read()
            try:
                rows.append(engine.analyze(data).embedding)
                groups.append(visitor)
            except LooksLikeError as exc:
                skipped[exc.code] = skipped.get(exc.code, 0) + 1
    if not rows:
        raise click.ClickException(f"no usable face in the {len(items)} photos of {', '.join(dirs)}")
    return np.stack(rows).astype(np.float32), np.asarray(groups), skipped


def splits(names: np.ndarray, visitor_dirs, fraction: float, folds: int, seed: int):
    """(gallery rows, visitor embeddings, visitor of each) per fold, the setup and the photos skipped."""
    if visitor_dirs:
        Q, groups, skipped = embed_visitors(visitor_dirs)
        gallery_rows = np.flatnonzero(~np.isin(names, np.unique(groups)))  # a visitor never matches themself
        return [(gallery_rows, Q, groups)], {"visitors_from": list(visitor_dirs), "visitors_in_gallery_removed":
                                             int(len(np.intersect1d(np.unique(groups), names)))}, skipped
    if folds * fraction > 1 + 1e-9:
        raise click.BadParameter(f"{folds} folds of {fraction} of the people overlap", param_hint="--folds")
    return [held_out_visitors(names, seed, fraction, fold) for fold in range(folds)], \
        {"visitor_fraction": fraction, "folds": folds, "seed": seed}, {}


def lookalike_command(gallery: Gallery, visitor_dirs, fraction: float, folds: int, scorings, seed: int,
                      out_dir: str, as_json: bool) -> None:
    """Measure each scoring on the visitors, print one table, write report.json and the plots."""
    X, names = np.asarray(gallery.embeddings, np.float32), gallery.row_names
    parts, setup, skipped = splits(names, visitor_dirs, fraction, folds, seed)
    reports = {}
    for text in scorings:
        try:
            aggregation, correction = parse_scoring(text)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--scoring") from exc
        per_fold = []
        for part in parts:
            gallery_rows, Q, groups = part if len(part) == 3 else (part[0], X[part[1]], names[part[1]])
            identities, labels = np.unique(names[gallery_rows], return_inverse=True)
            try:
                score = served_scores(X[gallery_rows], labels, len(identities), aggregation, correction)
            except ValueError as exc:
                raise click.BadParameter(str(exc), param_hint="--scoring") from exc
            per_fold.append(lookalike_report(score, Q, groups, len(identities),
                                             np.bincount(labels, minlength=len(identities)), identities, seed=seed))
        reports[text] = pooled_report(per_fold)
    os.makedirs(out_dir, exist_ok=True)
    plot_top1_distribution({k: r["hubs"] for k, r in reports.items()}, os.path.join(out_dir, "top1.png"))
    plot_stability({k: {**r["stability"][1], "per_visitor": r["per_visitor"]} for k, r in reports.items()},
                   os.path.join(out_dir, "stability.png"))
    full = {"gallery": gallery.name, **setup, "skipped": skipped,
            "scorings": {k: without_raw(r) for k, r in reports.items()}}
    with open(os.path.join(out_dir, "report.json"), "w", encoding="utf-8") as f:
        json.dump(full, f, indent=1, default=float)
    if as_json:
        click.echo(json.dumps(full, indent=1, default=float))
        return
    echo_text(gallery.name, reports, skipped, out_dir)


def echo_text(name: str, reports: dict, skipped: dict, out_dir: str) -> None:
    """The table, each scoring's hubs and fitted certainty margins."""
    first = next(iter(reports.values()))
    click.echo(f"gallery {name}: {first['gallery_identities']} identities; {first['photos']} photos of "
               f"{first['visitors']} visitors" + (f" ({sum(skipped.values())} photos without a usable face)"
                                                   if skipped else ""))
    for line in summary_lines(reports):
        click.echo(line)
    for scoring, r in reports.items():
        h = r["hubs"]
        click.echo(f"{scoring}: hub share {h['hub_share']:.3f} ({h['hubs']} hubs; random spread "
                   f"{h['hub_share_random']:.3f}, fair at this stability {h['hub_share_fair']:.3f}); top hubs: "
                   + ", ".join(f"{t['identity']} {t['top1']} ({t.get('gallery_photos', '?')} photos)"
                               for t in h["top_hubs"]))
        margins = {}
        for k, c in r["certainty"].items():
            margins[str(k)] = None if np.isnan(c["clear_margin"]) else round(c["clear_margin"], 4)
            click.echo(f"{scoring}: certainty with {k} photo(s): " + (
                f"clear from a margin of {c['clear_margin']:.4f} ({100 * c['clear_share']:.0f}% of answers; their "
                f"first celebrity stayed first {100 * c['clear_survival']:.0f}% of the time, close calls' "
                f"{100 * c['close_call_survival']:.0f}%)" if margins[str(k)] is not None else
                f"never clear (first celebrities stayed first {100 * c['close_call_survival']:.0f}% of the time, "
                "at no margin often enough)"))
        click.echo(f"{scoring}: CERTAINTY_CLEAR_MARGIN = {json.dumps(margins)}")
    click.echo(f"report.json, top1.png (top-1 distribution) and stability.png in {out_dir}")

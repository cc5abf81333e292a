"""Cleaning wrong labels, measured on LFW with labels corrupted on purpose.

Usage: python bench/label_noise.py [--markdown FILE] [--seeds 0,1,2] [--fraction 0.1]

Needs ../shared/data/lfw. The LFW photos go through the project's own per-photo path once: gallery
`lfw-shared` (`flask gallery build ../shared/data/lfw/images --name lfw-shared`, a pool of processes;
minutes on 2 cores), reused when present in the galleries folder (--galleries, else
LOOKSLIKE_GALLERIES_DIR, else instance/galleries). Protocol, per seed: among the gallery rows of
identities with 4+ photos, a random `fraction` is moved to another of those identities (uniform
choice); cleaning (app/pipeline/builders/label_cleaning.py) runs on every identity. Recall: moved
rows dropped; clean drop: unmoved rows of those identities dropped; precision: moved rows among all
rows dropped (whole gallery). Each threshold variant is one row of the table; the PNG beside the
markdown shows each row's median distance to its identity's core, moved rows against clean ones.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LFW = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "lfw", "images"))
GALLERY = "lfw-shared"
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from app.pipeline.builders.label_cleaning import (  # noqa: E402
    CleaningSettings,
    agreeing_group,
    clean_identities,
    median_to,
    pair_distances,
)


def default_galleries() -> str:
    """The galleries folder the app would use (the environment's, else instance/galleries)."""
    return os.environ.get("LOOKSLIKE_GALLERIES_DIR") or os.path.join(ROOT, "instance", "galleries")


def lfw_gallery(galleries: str, name: str = GALLERY, photos: str = LFW, workers: int | None = None):
    """Gallery `name` of the LFW photos, built with `flask gallery build` when absent or of other photos."""
    from app.pipeline.galleries.reader import Gallery

    path = os.path.join(galleries, name)
    if os.path.isfile(os.path.join(path, "manifest.json")):
        gallery = Gallery.load(path)
        if os.path.realpath(photos) in {os.path.realpath(p) for p in gallery.manifest.get("source_dirs", [])}:
            return gallery
    flask = [os.path.join(os.path.dirname(sys.executable), "flask"), "--app", "app"]
    env = dict(os.environ, LOOKSLIKE_GALLERIES_DIR=galleries, TF_CPP_MIN_LOG_LEVEL="3")
    command = flask + ["gallery", "build", photos, "--name", name] + (["--workers", str(workers)] if workers else [])
    print(f"building gallery {name} of {photos} (minutes)...", file=sys.stderr)
    subprocess.run(command, cwd=ROOT, env=env, check=True)
    return Gallery.load(path)


def corrupt_labels(labels: np.ndarray, fraction: float, min_photos: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(labels with `fraction` of the rows of identities with min_photos+ rows moved to another such
    identity, mask of the moved rows)."""
    rng = np.random.default_rng(seed)
    counts = np.bincount(labels)
    eligible = np.flatnonzero(counts >= min_photos)
    rows = np.flatnonzero(np.isin(labels, eligible))
    moved = rng.choice(rows, size=int(round(fraction * len(rows))), replace=False)
    out = labels.copy()
    for row in moved:
        others = eligible[eligible != labels[row]]
        out[row] = others[rng.integers(len(others))]
    mask = np.zeros(len(labels), bool)
    mask[moved] = True
    return out, mask


def measure(embeddings: np.ndarray, labels: np.ndarray, settings: CleaningSettings, fraction: float = 0.1,
            min_photos: int = 4, seed: int = 0) -> dict:
    """One run of the protocol: recall, clean drop, precision and identity counts."""
    noisy, moved = corrupt_labels(labels, fraction, min_photos, seed)
    keep, reasons, report = clean_identities(embeddings, noisy, settings)
    checked = np.isin(labels, np.flatnonzero(np.bincount(labels) >= min_photos))  # corrupted identities' rows
    clean_rows = checked & ~moved
    dropped = ~keep
    return {"seed": seed, "moved": int(moved.sum()), "recall": float(dropped[moved].mean()),
            "clean_drop": float(dropped[clean_rows].mean()), "clean_dropped": int(dropped[clean_rows].sum()),
            "precision": float(moved[dropped].mean()) if dropped.any() else 1.0,
            "dropped": int(dropped.sum()), "other_dropped": int((dropped & ~checked).sum()),
            "identities_dropped": sum(v["status"] == "dropped" for v in report.values()),
            "identities_checked": sum(v["status"] == "checked" for v in report.values())}


def core_distances(embeddings: np.ndarray, labels: np.ndarray, settings: CleaningSettings) -> np.ndarray:
    """Per row, the median distance to its identity's core (nan: too few photos or no core)."""
    out = np.full(len(labels), np.nan)
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        if len(rows) < settings.min_photos:
            continue
        distances = pair_distances(embeddings[rows])
        core = agreeing_group(distances, settings)
        if core.sum() >= 2:
            out[rows] = median_to(distances, core)
    return out


def plot(path: str, embeddings: np.ndarray, labels: np.ndarray, settings: CleaningSettings, fraction: float,
         seed: int) -> None:
    """Histograms of the median distance to the identity's core: moved rows against clean ones."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    noisy, moved = corrupt_labels(labels, fraction, 4, seed)
    dist = core_distances(embeddings, noisy, settings)
    bins = np.linspace(0.3, 1.6, 66)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for mask, label, color in ((~moved, "clean photos (identities of 3+)", "tab:blue"),
                               (moved, "moved photos", "tab:red")):
        values = dist[mask & np.isfinite(dist)]
        ax.hist(np.clip(values, bins[0], bins[-1]), bins=bins, alpha=0.6, color=color, density=True,
                label=f"{label} ({len(values)})")
    ax.axvline(settings.core_threshold, color="k", linestyle="--", label=f"core threshold {settings.core_threshold}")
    ax.set_xlabel("median distance to the identity's core (unit FaceNet embeddings)")
    ax.set_ylabel("density")
    ax.set_title(f"LFW, {fraction:.0%} of the photos of identities with 4+ photos moved (seed {seed})")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def variants(base: CleaningSettings, fraction: float) -> list[tuple[str, float, CleaningSettings]]:
    """(name, fraction moved, thresholds) compared: the app's calibrations, tighter and looser thresholds,
    then the calibrations under more noise (the true person must still win)."""
    out = [("calibrations (default)", fraction, base)]
    for pair, core in ((1.0, 1.0), (1.0742, 1.0), (1.0742, 1.05), (1.0742, 1.15), (1.15, 1.15), (1.0742, 1.2)):
        out.append(("", fraction, CleaningSettings(pair, core, base.min_photos)))
    return out + [(f"calibrations, {more:.0%} moved", more, base) for more in (0.2, 0.3, 0.4)]


def table(gallery, seeds: list[int], fraction: float, base: CleaningSettings) -> tuple[list[str], dict]:
    """Markdown rows of every variant (means over the seeds, worst case in brackets); the default's figures."""
    embeddings, labels = np.asarray(gallery.embeddings, np.float32), np.asarray(gallery.labels)
    lines = ["| variant | pair, core thresholds | recall (min) | clean drop (max) | precision | identities dropped "
             "| 3-photo identities' photos dropped | s per run |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    figures = {}
    for name, moved, settings in variants(base, fraction):
        start = time.perf_counter()
        runs = [measure(embeddings, labels, settings, moved, 4, seed) for seed in seeds]
        seconds = (time.perf_counter() - start) / len(runs)
        mean = {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}
        if not figures:
            figures = {"runs": runs, **mean}
        lines.append(f"| {name or f'{moved:.0%} moved'} | {settings.pair_threshold}, {settings.core_threshold} "
                     f"| {mean['recall']:.3f} ({min(r['recall'] for r in runs):.3f}) "
                     f"| {mean['clean_drop']:.2%} ({max(r['clean_drop'] for r in runs):.2%}) "
                     f"| {mean['precision']:.3f} | {mean['identities_dropped']:.1f} "
                     f"| {mean['other_dropped']:.1f} | {seconds:.1f} |")
    return lines, figures


def main() -> None:
    """Build or reuse the LFW gallery, run the protocol for every variant, print (and write) the table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--galleries", default=default_galleries())
    ap.add_argument("--gallery", default=GALLERY)
    ap.add_argument("--photos", default=LFW, help="the LFW photos, <identity>/<photo>")
    ap.add_argument("--workers", type=int, help="processes of the build (default: one per CPU)")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--fraction", type=float, default=0.1)
    ap.add_argument("--markdown", help="write the report here, and the plot beside it (.png)")
    args = ap.parse_args()
    if not os.path.isdir(args.photos):
        raise SystemExit(f"no LFW photos at {args.photos} (../shared/data/lfw)")
    from app.config import DEFAULTS

    gallery = lfw_gallery(args.galleries, args.gallery, args.photos, args.workers)
    base = CleaningSettings.from_config(DEFAULTS)
    seeds = [int(s) for s in args.seeds.split(",") if s]
    lines, figures = table(gallery, seeds, args.fraction, base)
    counts = np.bincount(gallery.labels)
    head = [f"Gallery {args.gallery}: {len(gallery)} rows of {len(counts)} LFW identities; "
            f"{int((counts >= 4).sum())} identities with 4+ photos hold {int(counts[counts >= 4].sum())} rows, "
            f"of which {args.fraction:.0%} ({figures['runs'][0]['moved']}) are moved per seed; seeds {args.seeds}.",
            f"Command: `python bench/label_noise.py {' '.join(sys.argv[1:])}`; "
            f"uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}", ""]
    clean_gallery = clean_identities(np.asarray(gallery.embeddings), np.asarray(gallery.labels), base)[0]
    tail = ["", f"Without corruption, the default thresholds drop {int((~clean_gallery).sum())} of the "
                f"{len(gallery)} rows ({(~clean_gallery).mean():.2%})."]
    text = "\n".join(head + lines + tail)
    print(text)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write(text + "\n")
        plot(os.path.splitext(args.markdown)[0] + ".png", np.asarray(gallery.embeddings, np.float32),
             np.asarray(gallery.labels), base, args.fraction, seeds[0])


if __name__ == "__main__":
    main()

"""Per-celebrity normalisation against stand-in visitors (HUB_CORRECTION): no celebrity matches everyone.

A celebrity with many gallery photos (best-photo scoring gives them many chances) or a face near
the average face scores high against everybody, and comes first for far more visitors than a fair
share: a hub. Each identity's aggregated score is z-normalised by the mean and spread of its
scores against stand-in visitors (a seeded sample of the gallery's own photos, each scored against
every identity but its own), then put back on the cosine scale (the gallery-wide mean level and
spread), so that display scores, resemblance percentiles and certainty margins read as cosines.
Ranking one query costs one lookup and one multiply-add per shortlisted identity.

Fitting scores STAND_INS photos against every row: at build time it is stored beside the gallery
(NORM_FILE, its settings in the manifest); a gallery without it (or with other settings) is
fitted when it is loaded, with fewer stand-ins when the gallery is large (LOAD_SCORES).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from app.pipeline.scoring.batch_scores import centroids, identity_score_block, segments
from app.pipeline.scoring.scorers import Aggregation

HUB_CORRECTIONS = ("none", "znorm")
NORM_FILE = "identity_norm.npz"
STAND_INS = 2000  # gallery photos scored as stand-in visitors
MIN_STAND_INS = 200  # at least, even for the largest gallery fitted at load
LOAD_SCORES = 40_000_000  # stand-in x row scores a fit at load time may compute (about a second)
BLOCK_SCORES = 8_000_000  # stand-in x row scores per block (32 MB of float32)
MIN_SAMPLES = 10  # identities scored by fewer stand-ins keep their raw score


@dataclass(frozen=True)
class IdentityNorm:
    """Per identity, the mean and spread of its scores over the stand-ins; gallery-wide level and spread."""

    mean: np.ndarray  # float64 [n]
    std: np.ndarray  # float64 [n]
    level: float
    spread: float
    settings: dict = field(default_factory=dict)  # method, aggregation and stand-ins it was fitted with

    def apply(self, scores: np.ndarray, identities: np.ndarray) -> np.ndarray:
        """Normalised scores of the given identities (-inf stays -inf), on the cosine scale."""
        scores = np.asarray(scores, np.float64)
        with np.errstate(invalid="ignore"):
            out = self.level + self.spread * (scores - self.mean[identities]) / self.std[identities]
        return np.where(np.isfinite(scores), out, scores)

    def save(self, path: str) -> None:
        """Write as .npz (settings as a JSON string)."""
        import json

        np.savez(path, mean=self.mean, std=self.std, level=self.level, spread=self.spread,
                 settings=json.dumps(self.settings, sort_keys=True))

    @classmethod
    def load(cls, path: str) -> IdentityNorm:
        """Read a saved normalisation."""
        import json

        with np.load(path) as data:
            return cls(data["mean"], data["std"], float(data["level"]), float(data["spread"]),
                       json.loads(str(data["settings"])))


def norm_settings(method: str, aggregation: Aggregation, stand_ins: int) -> dict:
    """What a stored normalisation must match to be used."""
    return {"method": method, "aggregate": aggregation.method, "mean_n": aggregation.mean_n, "stand_ins": stand_ins}


def fit_identity_norm(matrix: np.ndarray, labels: np.ndarray, n_ids: int, aggregation: Aggregation,
                      method: str = "znorm", sample: int = STAND_INS, seed: int = 0) -> IdentityNorm:
    """Stand-in statistics of every identity of a gallery (matrix: unit rows, may be memory-mapped)."""
    if method not in HUB_CORRECTIONS[1:]:
        raise ValueError(f"unknown hub correction {method!r}; choose one of {HUB_CORRECTIONS}")
    labels = np.asarray(labels)
    rows = np.sort(np.random.default_rng(seed).permutation(len(labels))[:sample])
    total, squares, count = np.zeros(n_ids), np.zeros(n_ids), np.zeros(n_ids)
    grouped = segments(labels) if aggregation.method != "centroid" else None
    unit = centroids(matrix, labels, n_ids)[0] if aggregation.method == "centroid" else None
    block = max(1, BLOCK_SCORES // max(len(labels), 1))
    for start in range(0, len(rows), block):
        chunk = rows[start:start + block]
        S = identity_score_block(np.asarray(matrix[chunk], np.float32), matrix, labels, n_ids, aggregation,
                                 grouped, unit).astype(np.float64)
        S[np.arange(len(chunk)), labels[chunk]] = -np.inf  # a stand-in is never scored against itself
        ok = np.isfinite(S)
        S = np.where(ok, S, 0.0)
        total += S.sum(axis=0)
        squares += (S * S).sum(axis=0)
        count += ok.sum(axis=0)
    fitted = count >= MIN_SAMPLES
    mean = np.where(fitted, total / np.maximum(count, 1), np.nan)
    std = np.sqrt(np.maximum(squares / np.maximum(count, 1) - mean ** 2, 0.0))
    level = float(np.nanmean(mean)) if fitted.any() else 0.0
    spread = float(np.nanmean(std[fitted])) if fitted.any() else 1.0
    # identities too rarely scored keep their raw score: mean = level and std = spread map s to s
    mean = np.where(fitted, mean, level)
    std = np.where(fitted, np.maximum(std, 1e-6), spread)
    return IdentityNorm(mean, std, level, spread, norm_settings(method, aggregation, int(len(rows))))


def load_sample(rows: int) -> int:
    """Stand-ins of a fit at load time: STAND_INS, fewer for a large gallery (never under MIN_STAND_INS)."""
    return int(min(STAND_INS, max(MIN_STAND_INS, LOAD_SCORES // max(rows, 1))))


def gallery_norm(gallery_path: str, matrix: np.ndarray, labels: np.ndarray, n_ids: int, aggregation: Aggregation,
                 method: str) -> IdentityNorm | None:
    """The normalisation a served gallery uses: none, the stored one when its settings match, else fitted now."""
    if method == "none":
        return None
    if method not in HUB_CORRECTIONS:
        raise ValueError(f"unknown hub correction {method!r}; choose one of {HUB_CORRECTIONS}")
    path = os.path.join(gallery_path, NORM_FILE)
    if os.path.isfile(path):
        stored = IdentityNorm.load(path)
        wanted = norm_settings(method, aggregation, stored.settings.get("stand_ins"))
        if stored.settings == wanted and len(stored.mean) == n_ids:
            return stored
    return fit_identity_norm(matrix, labels, n_ids, aggregation, method, load_sample(len(labels)))


def build_references(version: str, matrix: np.ndarray, labels: np.ndarray, n_ids: int, config: dict,
                     sample: int | None = None) -> tuple[np.ndarray, dict]:
    """(resemblance reference, its manifest entry) of a gallery being built under the config's
    scoring; with HUB_CORRECTION on, the identity normalisation is fitted and saved in `version`."""
    from app.pipeline.scoring.resemblance import REFERENCE_SAMPLE, reference_scores

    aggregation, method = Aggregation.from_config(config), config.get("HUB_CORRECTION", "none")
    norm = None if method == "none" else fit_identity_norm(matrix, labels, n_ids, aggregation, method)
    if norm is not None:
        norm.save(os.path.join(version, NORM_FILE))
    resemblance = reference_scores(matrix, labels, n_ids, aggregation, sample=sample or REFERENCE_SAMPLE, norm=norm)
    return resemblance, {"scorer": "cosine", "aggregate": aggregation.method, "mean_n": aggregation.mean_n,
                         "hub_correction": method, "reference_scores": int(len(resemblance))}


def served_norm(gallery, scorer, config: dict) -> IdentityNorm | None:
    """The normalisation a served gallery's ranking applies under HUB_CORRECTION (StartupError when unknown).

    Cosine: the one stored with the gallery, else fitted now; a learned model's encoder space: fitted
    on its encodings; a model that scores no cosines: none.
    """
    from app.pipeline.errors import StartupError

    method = config["HUB_CORRECTION"]
    if method not in HUB_CORRECTIONS:
        raise StartupError(f"HUB_CORRECTION must be one of {', '.join(HUB_CORRECTIONS)}; got {method!r}")
    aggregation, n = Aggregation.from_config(config), len(gallery.identities)
    if method == "none" or scorer.name == "cosine":
        return gallery_norm(gallery.path, gallery.embeddings, gallery.labels, n, aggregation, method)
    space = scorer.space()
    if space is None:
        return None
    return fit_identity_norm(space, gallery.labels, n, aggregation, method, load_sample(len(gallery)))

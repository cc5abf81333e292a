"""The learned encoder + similarity networks as scorers (fast paths, gallery encodings cached)."""

from __future__ import annotations

import os
import tempfile

import numpy as np

from app.pipeline.errors import StartupError
from app.pipeline.galleries.reader import Gallery
from app.pipeline.scoring.scorers import Scorer, cosine_to_score, euclidean_distances

ENCODED_PREFIX = "encoded-"


def encoded_gallery(model_dir: str, gallery: Gallery, networks) -> np.ndarray:
    """Encoder outputs of every gallery row, cached beside the gallery (recomputed when the encoder file changes)."""
    cache = os.path.join(gallery.path, f"{ENCODED_PREFIX}{os.path.basename(os.path.normpath(model_dir))}.npy")
    if os.path.isfile(cache) and os.path.getmtime(cache) >= os.path.getmtime(networks.encoder_file):
        encoded = np.load(cache, mmap_mode="r")
        if encoded.shape[0] == len(gallery):
            return encoded
    encoded = networks.encode(np.asarray(gallery.embeddings))
    try:  # a unique temporary name: several gunicorn workers may write it at once
        fd, tmp = tempfile.mkstemp(dir=gallery.path, prefix=".encoded-", suffix=".npy")
        with os.fdopen(fd, "wb") as f:
            np.save(f, encoded)
        os.replace(tmp, cache)
    except OSError:  # read-only gallery: keep the encodings in memory only
        pass
    return encoded


def network_distances(encoder, similarity, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """1 - similarity-network probability for rows of FaceNet embeddings a and b (Keras models)."""
    from models.encoder import encode

    prob = np.asarray(similarity([encode(encoder, a), encode(encoder, b)], training=False), np.float64)
    return 1.0 - prob.reshape(-1)


class ModelScorer(Scorer):
    """What both scorers of a trained model share: loading over a served gallery, pair distances, calibration.

    `networks` runs the model (app/pipeline/networks/trained_runtime.py: ONNX Runtime, or Keras):
    encode(rows), pair_probabilities(za, zb), similarity (its dense weights, or None), meta (config.json).
    """

    def __init__(self, networks, matrix: np.ndarray, encoded: np.ndarray):
        super().__init__(matrix)
        self.networks, self.encoded = networks, np.asarray(encoded)
        self.meta = networks.meta

    @classmethod
    def load(cls, networks, model_dir: str, gallery: Gallery, **options) -> ModelScorer:
        """The model's networks over a served gallery (encodings cached), warmed up."""
        scorer = cls(networks, gallery.embeddings, encoded_gallery(model_dir, gallery, networks),
                     model=os.path.basename(os.path.normpath(model_dir)), **options)
        scorer.row_scores(np.asarray(gallery.embeddings[0]))  # warm up off the request path
        return scorer

    def _encode(self, query: np.ndarray) -> np.ndarray:
        """The encoded query [d]."""
        return self.networks.encode(query)[0]

    def pair_distances(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """1 - similarity-network probability (with the network), else encoded Euclidean distance."""
        za, zb = self.networks.encode(a), self.networks.encode(b)
        if self.networks.similarity is not None:
            return 1.0 - np.asarray(self.networks.pair_probabilities(za, zb), np.float64)
        return euclidean_distances(za, zb)

    def calibration(self):
        """The calibration `flask train` fitted on the similarity network's validation pairs."""
        from models.calibration import Calibration

        return Calibration.from_dict(self.meta["calibration"])


class LearnedScorer(ModelScorer):
    """Scores with the trained networks, never naively over all pairs.

    concat combiner: the first dense layer is split and its gallery half precomputed (exact);
    absprod / chi2: a cosine shortlist of `shortlist` rows is reranked by the network
    (shortlist 0: every row scored by the network, as the offline evaluation does).
    """

    def __init__(self, networks, matrix: np.ndarray, encoded: np.ndarray, shortlist: int = 0,
                 model: str | None = None):
        from models.similarity_scorer import SimilarityScorer

        super().__init__(networks, matrix, encoded)
        config = self.meta["config"]
        self.combiner = config["combiner"]
        label = f"learned:{model}" if model else "learned"
        self.name = f"{label} ({config['loss']}, {self.combiner})"
        self.shortlist = int(shortlist)
        self.fast = SimilarityScorer(networks.similarity, self.encoded, shortlist=self.shortlist)

    def row_scores(self, query: np.ndarray) -> np.ndarray:
        """Similarity-network probability per row (-inf outside the shortlist)."""
        q = self._encode(query)
        if self.combiner == "concat" or self.shortlist <= 0:
            return self.fast.score_all(q).astype(np.float64)
        rows, scores = self.fast.top_k(q, self.shortlist)
        out = np.full(self.fast.size, -np.inf)
        out[rows] = scores
        return out


class EncodedCosineScorer(ModelScorer):
    """Cosine similarity in the learned encoder's space; with the similarity network, it verifies pairs.

    Ranking is one matrix-vector product over the cached encoded rows (as exact cosine over the
    FaceNet rows); `space` gives those rows, so "centroid" aggregation is the encoded centroid.
    """

    def __init__(self, networks, matrix: np.ndarray, encoded: np.ndarray, model: str | None = None):
        super().__init__(networks, matrix, encoded)
        self.name = (f"learned:{model} (encoder cosine + similarity network)" if model
                     else "learned encoder, cosine")

    def row_scores(self, query: np.ndarray) -> np.ndarray:
        """Cosine of the encoded query to every encoded row."""
        return np.asarray(self.encoded @ self._encode(query), np.float64)

    def score_rows(self, query: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Cosine of the encoded query to the given encoded rows only."""
        return np.asarray(self.encoded[rows] @ self._encode(query), np.float64)

    def space(self) -> np.ndarray:
        """The encoded rows (unit vectors)."""
        return self.encoded

    def display(self, value: float) -> float:
        """(1 + cosine) / 2 of the encoded cosine."""
        return float(cosine_to_score(value))


LEARNED_SCORERS = ("encoder", "network")


def load_learned_scorer(networks, model_dir: str, gallery: Gallery, config: dict) -> Scorer:
    """LEARNED_SCORER "encoder" (encoder cosine ranks, network verifies) or "network" (network ranks)."""
    kind = config["LEARNED_SCORER"]
    if kind == "encoder":
        return EncodedCosineScorer.load(networks, model_dir, gallery)
    if kind == "network":
        return LearnedScorer.load(networks, model_dir, gallery, shortlist=config["LEARNED_SHORTLIST"])
    raise StartupError(f"LEARNED_SCORER must be one of {LEARNED_SCORERS}; got {kind!r}")

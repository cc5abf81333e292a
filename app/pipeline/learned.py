"""The learned encoder + similarity networks as scorers (fast paths, gallery encodings cached)."""

from __future__ import annotations

import os
import tempfile

import numpy as np

from app.pipeline.gallery import Gallery
from app.pipeline.scoring import Scorer, euclidean_distances

ENCODED_PREFIX = "encoded-"


def encoded_gallery(model_dir: str, gallery: Gallery, encoder) -> np.ndarray:
    """Encoder outputs of every gallery row, cached beside the gallery (recomputed when the model changes)."""
    from models.encoder import encode
    from models.training import ENCODER_FILE

    cache = os.path.join(gallery.path, f"{ENCODED_PREFIX}{os.path.basename(os.path.normpath(model_dir))}.npy")
    weights = os.path.join(model_dir, ENCODER_FILE)
    if os.path.isfile(cache) and os.path.getmtime(cache) >= os.path.getmtime(weights):
        encoded = np.load(cache, mmap_mode="r")
        if encoded.shape[0] == len(gallery):
            return encoded
    encoded = encode(encoder, np.asarray(gallery.embeddings))
    try:  # a unique temporary name: several gunicorn workers may write it at once
        fd, tmp = tempfile.mkstemp(dir=gallery.path, prefix=".encoded-", suffix=".npy")
        with os.fdopen(fd, "wb") as f:
            np.save(f, encoded)
        os.replace(tmp, cache)
    except OSError:  # read-only gallery: keep the encodings in memory only
        pass
    return encoded


def network_distances(encoder, similarity, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """1 - similarity-network probability for rows of FaceNet embeddings a and b."""
    from models.encoder import encode

    prob = np.asarray(similarity([encode(encoder, a), encode(encoder, b)], training=False), np.float64)
    return 1.0 - prob.reshape(-1)


class LearnedScorer(Scorer):
    """Scores with the trained networks, never naively over all pairs.

    concat combiner: the first dense layer is split and its gallery half precomputed (exact);
    absprod / chi2: a cosine shortlist of `shortlist` rows is reranked by the network
    (shortlist 0: every row scored by the network, as the offline evaluation does).
    """

    def __init__(self, encoder, similarity, meta: dict, matrix: np.ndarray, encoded: np.ndarray,
                 shortlist: int, label: str = "learned"):
        from models.similarity import SimilarityScorer

        super().__init__(matrix)
        self.encoder, self.similarity, self.meta = encoder, similarity, meta
        config = meta["config"]
        self.combiner = config["combiner"]
        self.name = f"{label} ({config['loss']}, {self.combiner})"
        self.shortlist = int(shortlist)
        self.fast = SimilarityScorer(similarity, np.asarray(encoded), shortlist=self.shortlist)

    @classmethod
    def load(cls, model_dir: str, gallery: Gallery, shortlist: int) -> LearnedScorer:
        """The model saved in model_dir over a served gallery (encodings cached), warmed up."""
        from models.training import load_model

        encoder, similarity, meta = load_model(model_dir)
        scorer = cls(encoder, similarity, meta, gallery.embeddings,
                     encoded_gallery(model_dir, gallery, encoder), shortlist,
                     label=f"learned:{os.path.basename(os.path.normpath(model_dir))}")
        scorer.row_scores(np.asarray(gallery.embeddings[0]))  # warm up off the request path
        return scorer

    def row_scores(self, query: np.ndarray) -> np.ndarray:
        """Similarity-network probability per row (-inf outside the shortlist)."""
        from models.encoder import encode

        q = encode(self.encoder, query)[0]
        if self.combiner == "concat" or self.shortlist <= 0:
            return self.fast.score_all(q).astype(np.float64)
        rows, scores = self.fast.top_k(q, self.shortlist)
        out = np.full(self.fast.size, -np.inf)
        out[rows] = scores
        return out

    def pair_distances(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """1 - similarity-network probability."""
        return network_distances(self.encoder, self.similarity, a, b)

    def calibration(self):
        """The calibration fitted on the model's validation pairs by `flask train`."""
        from models.calibration import Calibration

        return Calibration.from_dict(self.meta["calibration"])


class EncodedCosineScorer(Scorer):
    """Cosine similarity in the learned encoder's space (the encoder alone, no similarity network)."""

    name = "learned encoder, cosine"

    def __init__(self, encoder, matrix: np.ndarray, encoded: np.ndarray):
        super().__init__(matrix)
        self.encoder, self.encoded = encoder, np.asarray(encoded)

    def row_scores(self, query: np.ndarray) -> np.ndarray:
        """Cosine of the encoded query to every encoded row."""
        from models.encoder import encode

        return np.asarray(self.encoded @ encode(self.encoder, query)[0], np.float64)

    def pair_distances(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Euclidean distance of the encoded (unit) embeddings."""
        from models.encoder import encode

        return euclidean_distances(encode(self.encoder, a), encode(self.encoder, b))

"""One served gallery version and everything the engine derives from it: scorer, index, calibrations, resemblance.

An engine holds one ServedGallery and replaces it whole when a newer version is published
(Engine.switch): a request takes the current one once and uses only it, so a request in flight
keeps the gallery, scorer and calibration it started with while the next request gets the new set.
Each part is built on first use (the CLI needs no gallery to verify two photos) or at once by
load_all (servers).
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass

import numpy as np

from app.pipeline.errors import StartupError
from app.pipeline.galleries.reader import Gallery
from app.pipeline.galleries.rows import row_source
from app.pipeline.galleries.vector_index import PQIndex, has_index
from app.pipeline.scoring.identity_norm import IdentityNorm, served_norm
from app.pipeline.scoring.resemblance import reference_scores
from app.pipeline.scoring.scorers import Aggregation, CosineScorer, IndexedCosineScorer, Scorer
from app.pipeline.scoring.verification import load_calibration


@dataclass
class EnginePaths:
    """Where the engine finds its files."""

    weights: str
    galleries: str
    models: str
    calibration: str  # fitted pair calibration (overrides VERIFY_CALIBRATION when present)
    check_calibration: str  # fitted subject-check calibration (overrides CHECK_CALIBRATION)


class ServedGallery:
    """Gallery `name` as served: opened, checked against the settings, scored; each part built once."""

    def __init__(self, name: str, config: dict, paths: EnginePaths):
        self.name, self.config, self.paths = name, config, paths
        self._lock = threading.RLock()
        self._gallery: Gallery | None = None
        self._scorer: Scorer | None = None
        self._calibration = None
        self._check_calibration = None
        self._resemblance: np.ndarray | None = None
        self._norm: list[IdentityNorm | None] = []  # [the identity normalisation] once resolved
        self._auto_model: str | None = None  # MATCH_MODEL=auto, resolved once

    @property
    def gallery(self) -> Gallery:
        """The gallery, memory-mapped (opened on first use)."""
        with self._lock:
            if self._gallery is None:
                gallery = Gallery.load(os.path.join(self.paths.galleries, self.name))
                gallery.check_pipeline(self.config)
                self._gallery = gallery
            return self._gallery

    def opened(self) -> Gallery | None:
        """The gallery if it has been opened, else None (never opens it)."""
        return self._gallery

    @property
    def scorer(self) -> Scorer:
        """Cosine, or the learned model of MATCH_MODEL (loaded once, gallery encodings cached)."""
        with self._lock:
            if self._scorer is None:
                gallery, model = self.gallery, self.model_name()
                if not model:
                    self._scorer = self._cosine_scorer(gallery)
                else:
                    from app.pipeline.networks.trained_runtime import load_trained_networks
                    from app.pipeline.scoring.learned_scorers import load_learned_scorer

                    model_dir = os.path.join(self.paths.models, model)
                    if not os.path.isfile(os.path.join(model_dir, "config.json")):
                        raise StartupError(f"MATCH_MODEL '{model}' not found in {self.paths.models}. Run "
                                           f"`flask train --gallery {gallery.name} --out {model}` or unset it.")
                    networks = load_trained_networks(model_dir, self.config["RUNTIME"])  # ONNX: no TensorFlow
                    self._scorer = load_learned_scorer(networks, model_dir, gallery, self.config)
            return self._scorer

    def model_name(self) -> str:
        """The learned model served: MATCH_MODEL; "auto": the gallery's own model when trained and its
        validation verdict (written by `flask train`) says it beats cosine."""
        wanted = self.config["MATCH_MODEL"]
        if wanted != "auto":
            return wanted
        if self._auto_model is None:
            meta = os.path.join(self.paths.models, self.name, "config.json")  # no need to open the gallery
            self._auto_model = ""
            if os.path.isfile(meta):
                with open(meta, encoding="utf-8") as f:
                    self._auto_model = self.name if json.load(f).get("validation", {}).get("serve") else ""
        return self._auto_model

    def _cosine_scorer(self, gallery: Gallery) -> Scorer:
        """Exact cosine, or cosine over the shortlist of the gallery's index (INDEX, INDEX_MIN_ROWS)."""
        mode = self.config["INDEX"]
        if mode not in ("auto", "exact", "ann"):
            raise StartupError(f"INDEX must be auto, exact or ann; got {mode!r}")
        wanted = mode == "ann" or (mode == "auto" and len(gallery) >= self.config["INDEX_MIN_ROWS"])
        if not wanted or (mode == "auto" and not has_index(gallery.path)):
            return CosineScorer(gallery.embeddings)
        if not has_index(gallery.path):
            raise StartupError(f"INDEX=ann but gallery '{gallery.name}' has no index. Run "
                               f"`flask gallery index {gallery.name}` or set INDEX=auto.")
        index = PQIndex(gallery.path, gallery.embeddings, gallery.name)
        # A big matrix's shortlisted rows are read with pread: a worker's RSS does not grow with queries.
        return IndexedCosineScorer(row_source(gallery.embeddings), index, self.config["INDEX_SHORTLIST"])

    def index_info(self) -> dict:
        """What /readyz reports of the vector index in use."""
        scorer = self.scorer
        if isinstance(scorer, IndexedCosineScorer):
            return {"kind": scorer.index.meta["kind"], "rows": scorer.index.meta["rows"],
                    "shortlist": scorer.shortlist}
        return {"kind": "exact", "rows": len(self.gallery)}

    @property
    def calibration(self):
        """Verification calibration: the learned model's own, else the fitted file, else the default."""
        with self._lock:
            if self._calibration is None:
                if self.model_name():
                    self._calibration = self.scorer.calibration()
                else:
                    self._calibration = load_calibration(self.paths.calibration, self.config["VERIFY_CALIBRATION"])
            return self._calibration

    @property
    def check_calibration(self):
        """Subject-check calibration: the learned model's pair calibration, else check.json, else default."""
        if self.model_name():
            return self.calibration
        with self._lock:
            if self._check_calibration is None:
                self._check_calibration = load_calibration(self.paths.check_calibration,
                                                           self.config["CHECK_CALIBRATION"])
            return self._check_calibration

    @property
    def resemblance_reference(self) -> np.ndarray:
        """Best-match scores of non-gallery people under the scorer in use (stored at build for cosine)."""
        with self._lock:
            if self._resemblance is None:
                gallery, scorer, aggregation = self.gallery, self.scorer, Aggregation.from_config(self.config)
                stored = {"hub_correction": "none", **gallery.manifest.get("resemblance", {})}
                wanted = {"scorer": "cosine", "aggregate": aggregation.method, "mean_n": aggregation.mean_n,
                          "hub_correction": self.config["HUB_CORRECTION"]}
                reference = gallery.resemblance_reference()
                if reference is None or scorer.name != "cosine" or \
                        any(stored.get(k) != v for k, v in wanted.items()):
                    # cosine: the memory-mapped matrix itself (an indexed scorer reads rows, it has no matrix)
                    row_scores = None if scorer.name == "cosine" else scorer.row_scores
                    reference = reference_scores(gallery.embeddings, gallery.labels, len(gallery.identities),
                                                 aggregation, row_scores=row_scores, sample=300,
                                                 norm=self.identity_norm)
                self._resemblance = reference
            return self._resemblance

    @property
    def identity_norm(self) -> IdentityNorm | None:
        """HUB_CORRECTION's per-identity normalisation (None: off), stored with the gallery or fitted once."""
        with self._lock:
            if not self._norm:
                self._norm = [served_norm(self.gallery, self.scorer, self.config)]
            return self._norm[0]

    def load_all(self) -> ServedGallery:
        """Open the gallery and build the scorer, calibrations, normalisation and resemblance reference now."""
        _ = self.gallery, self.scorer, self.calibration, self.check_calibration, self.identity_norm
        _ = self.resemblance_reference
        if Aggregation.from_config(self.config).method == "centroid":  # one pass over the rows, not at a match
            self.scorer.centroid_scale(self.gallery.labels)
        return self

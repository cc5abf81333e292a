"""The matching engine: networks, gallery and scorer loaded once per process; photos in, answers out.

It is the one place that wires the networks, the gallery, the scorer, the index and the
calibrations together; what its engines share in a process is in engine_loading.py.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, replace

import numpy as np

from app.pipeline import deadline
from app.pipeline.errors import BadRequest, LooksLikeError, StartupError
from app.pipeline.galleries.reader import Gallery
from app.pipeline.galleries.rows import row_source
from app.pipeline.galleries.vector_index import PQIndex, has_index
from app.pipeline.networks.runtime import resolve_runtime
from app.pipeline.photos.analysis import FaceResult, analyze_photo, analyze_photos
from app.pipeline.photos.detect import Detector
from app.pipeline.photos.embed import Embedder
from app.pipeline.scoring.resemblance import percentile, reference_scores
from app.pipeline.scoring.scorers import Aggregation, CosineScorer, IndexedCosineScorer, Scorer
from app.pipeline.scoring.verification import check, load_calibration, subject_anchors, verify
from app.pipeline.serving.embedding_model import check_embedding, describe_model
from app.pipeline.serving.engine_loading import process_detector, process_embedder, running
from app.pipeline.serving.results import CheckResult, MatchResult, VerifyResult

ANCHOR_MIN_SIDE = 256  # px: the smallest detection side of a subject check's anchors


@dataclass
class EnginePaths:
    """Where the engine finds its files."""

    weights: str
    galleries: str
    models: str
    calibration: str  # fitted pair calibration (overrides VERIFY_CALIBRATION when present)
    check_calibration: str  # fitted subject-check calibration (overrides CHECK_CALIBRATION)


class Engine:
    """Holds the detector, the embedder, the gallery and the scorer; each is built at most once."""

    def __init__(self, config: dict, paths: EnginePaths):
        self.config = config
        self.paths = paths
        self._lock = threading.RLock()
        self._gallery: Gallery | None = None
        self._scorer: Scorer | None = None
        self._calibration = None
        self._check_calibration = None
        self._resemblance: np.ndarray | None = None
        self._auto_model: str | None = None  # MATCH_MODEL=auto, resolved once
        self._runtime: str | None = None
        self._detector: Detector | None = None
        self._embedder: Embedder | None = None
        self._embedding_model: dict | None = None
        self._loaded = False
        self.failure: str | None = None  # why start-up failed (REPORT_STARTUP_ERRORS), else None

    @property
    def runtime(self) -> str:
        """The runtime of the networks: "onnx" or "tf" (RUNTIME resolved once; see app/pipeline/networks/runtime.py)."""
        if self._runtime is None:
            self._runtime = resolve_runtime(self.config["RUNTIME"], os.path.dirname(self.paths.weights))
        return self._runtime

    @property
    def detector(self) -> Detector:
        """The MTCNN detector (built on first use; every request after that reads no file)."""
        if self._detector is None:
            self._detector = process_detector(self.config, self.runtime, os.path.dirname(self.paths.weights))
        return self._detector

    @property
    def embedder(self) -> Embedder:
        """The FaceNet embedder (built on first use; StartupError when weights are missing)."""
        self.raise_failure()
        if self._embedder is None:
            self._embedder = process_embedder(self.config, self.paths.weights, self.runtime)
        return self._embedder

    @property
    def gallery(self) -> Gallery:
        """The configured gallery, memory-mapped (opened on first use)."""
        self.raise_failure()
        with self._lock:
            if self._gallery is None:
                gallery = Gallery.load(self.gallery_path(self.gallery_name()))
                gallery.check_pipeline(self.config)
                self._gallery = gallery
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
                    from app.pipeline.scoring.learned_scorers import load_learned_scorer

                    model_dir = os.path.join(self.paths.models, model)
                    if not os.path.isfile(os.path.join(model_dir, "config.json")):
                        raise StartupError(f"MATCH_MODEL '{model}' not found in {self.paths.models}. Run "
                                           f"`flask train --gallery {gallery.name} --out {model}` or unset it.")
                    self._scorer = load_learned_scorer(model_dir, gallery, self.config)
            return self._scorer

    def model_name(self) -> str:
        """The learned model served: MATCH_MODEL; "auto": the served gallery's own model when trained and
        its validation verdict (written by `flask train`) says it beats cosine."""
        wanted = self.config["MATCH_MODEL"]
        if wanted != "auto":
            return wanted
        if self._auto_model is None:
            name = self.gallery_name()  # the folder name: no need to open the gallery (verify works without)
            meta = os.path.join(self.paths.models, name, "config.json")
            self._auto_model = ""
            if os.path.isfile(meta):
                with open(meta, encoding="utf-8") as f:
                    self._auto_model = name if json.load(f).get("validation", {}).get("serve") else ""
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
                stored = gallery.manifest.get("resemblance", {})
                wanted = {"scorer": "cosine", "aggregate": aggregation.method, "mean_n": aggregation.mean_n}
                reference = gallery.resemblance_reference()
                if reference is None or scorer.name != "cosine" or \
                        any(stored.get(k) != v for k, v in wanted.items()):
                    reference = reference_scores(gallery.embeddings, gallery.labels, len(gallery.identities),
                                                 aggregation, row_scores=scorer.row_scores, sample=300)
                self._resemblance = reference
            return self._resemblance

    def gallery_name(self) -> str:
        """GALLERY, or else the first gallery of GALLERY_PREFERENCE that exists (the last one if none)."""
        if self.config["GALLERY"]:
            return self.config["GALLERY"]
        preference = list(self.config["GALLERY_PREFERENCE"])
        return next((n for n in preference if os.path.isdir(self.gallery_path(n))), preference[-1])

    def gallery_path(self, name: str) -> str:
        """Folder of a named gallery."""
        return os.path.join(self.paths.galleries, name)

    def load_all(self) -> None:
        """Open the gallery and build every network now (start-up, never per request)."""
        _ = self.gallery, self.detector, self.embedder, self.scorer, self.calibration, self.check_calibration
        _ = self.resemblance_reference, self.embedding_model()
        self._loaded = True

    def raise_failure(self) -> None:
        """The start-up failure again, without retrying the load (when start-up failed)."""
        if self.failure:
            raise StartupError(self.failure)

    def ready(self) -> bool:
        """True once load_all has built the networks and opened the gallery."""
        return self._loaded

    def analyze(self, data: bytes, field: str | None = None, face_index: int | None = None) -> FaceResult:
        """Decode a photo, detect its main face (or face `face_index`) and embed it; errors name `field`."""
        try:
            with running():
                return analyze_photo(data, self.detector, self.embedder, self.config, face_index)
        except LooksLikeError as exc:
            if field:
                exc.for_field(field)
            raise

    def analyze_all(self, blobs: list[bytes], fields: list[str], max_side: int | None = None) -> list[FaceResult]:
        """Several photos, one at a time (a batch of ten 1024-px photos took 750 MB more), detected at
        most `max_side` px; the first error, naming its field."""
        config = self.config if max_side is None else {**self.config, "DETECT_MAX_SIDE": max_side}
        results = []
        for blob, field in zip(blobs, fields):
            with running():
                result = analyze_photos([blob], self.detector, self.embedder, config)[0]
            if isinstance(result, LooksLikeError):
                raise result.for_field(field)  # the later photos are not looked at
            results.append(result)
        return results

    def match(self, data: bytes, top_k: int | None = None, face_index: int | None = None) -> MatchResult:
        """Top-k celebrities that look most like the main face of the photo (or face `face_index`)."""
        query = self.analyze(data, face_index=face_index)
        return self._ranked(query, query.embedding, top_k, query.timings)

    def embedding_model(self) -> dict:
        """The served embedding model: id, dimension, weights and settings (serving/embedding_model.py)."""
        if self._embedding_model is None:
            self._embedding_model = describe_model(self.config, self.paths.weights)
        return self._embedding_model

    def match_embedding(self, values, model_id: str, top_k: int | None = None) -> MatchResult:
        """Top-k celebrities for an embedding computed elsewhere (the visitor's browser) with the served model;
        scored exactly as a photo's. The result has no query face (`query` is None)."""
        return self._ranked(None, check_embedding(values, self.embedding_model(), model_id), top_k, {})

    def _ranked(self, query: FaceResult | None, embedding: np.ndarray, top_k: int | None,
                timings: dict[str, float]) -> MatchResult:
        """The top-k identities for one embedding, named, with their resemblance percentiles."""
        deadline.check("score")
        t0 = time.perf_counter()
        gallery, scorer = self.gallery, self.scorer
        matches = scorer.rank(embedding, gallery.labels, gallery.identities, top_k or self.config["TOP_K"],
                              Aggregation.from_config(self.config))
        reference = self.resemblance_reference
        matches = [replace(m, name=gallery.names[m.label], resemblance=percentile(m.raw, reference))
                   for m in matches]
        return MatchResult(query=query, matches=matches, timings=dict(timings, score=time.perf_counter() - t0),
                           gallery=gallery.name, scorer=scorer.name)

    def verify(self, data1: bytes, data2: bytes) -> VerifyResult:
        """Are the main faces of two photos the same person?"""
        r1, r2 = self.analyze_all([data1, data2], ["photo1", "photo2"])
        return VerifyResult(verdict=verify(r1.embedding, r2.embedding, self.scorer, self.calibration),
                            faces=[r1, r2])

    def check(self, data: bytes, subject: str | None, anchors: list[bytes]) -> CheckResult:
        """Is the photo the subject (a gallery identity) or the person of the anchor photos?"""
        most = self.config["CHECK_MAX_ANCHORS"]
        if (subject is None) == (not anchors):
            raise BadRequest(f'Send either "subject" (a name in the gallery) or 1 to {most} "anchor" photos, '
                             "not both.", field="subject")
        if len(anchors) > most:
            raise BadRequest(f"At most {most} anchor photos are accepted; got {len(anchors)}.", field="anchor")
        probe = self.analyze(data, "photo")
        # The anchors together are detected in about the pixels of one photo: n anchors at most
        # DETECT_MAX_SIDE / sqrt(n) px each (10 anchors: 324 px; faces stay well above MTCNN's minimum).
        side = max(ANCHOR_MIN_SIDE, round(self.config["DETECT_MAX_SIDE"] / max(len(anchors), 1) ** 0.5))
        anchored = self.analyze_all(anchors, [f"anchor[{i}]" for i in range(len(anchors))], side)
        identity = None
        if subject is not None:
            identity, anchor_emb = subject_anchors(self.gallery, subject)
        else:
            anchor_emb = np.stack([a.embedding for a in anchored])
        result = check(probe.embedding, anchor_emb, self.scorer, self.check_calibration)
        return CheckResult(verdict=result, probe=probe, anchors_used=int(len(anchor_emb)), subject=identity)

"""The matching engine: networks, gallery and scorer loaded once per process; photos in, answers out.

It is the one place that wires the networks, the gallery, the scorer, the index and the
calibrations together; what its engines share in a process is in engine_loading.py, what it
derives from one gallery version in served_gallery.py (replaced whole by `switch`).
"""

from __future__ import annotations

import os
import threading
import time

import numpy as np

from app.pipeline import deadline
from app.pipeline.errors import BadRequest, LooksLikeError, StartupError, Unavailable
from app.pipeline.galleries.reader import Gallery, thumb_path
from app.pipeline.galleries.store import version_folder
from app.pipeline.networks.runtime import resolve_runtime
from app.pipeline.photos.analysis import FaceResult, analyze_photo, analyze_photos
from app.pipeline.photos.detect import Detector
from app.pipeline.photos.embed import Embedder
from app.pipeline.scoring.attribute_filter import AttributeFilter, allowed_in
from app.pipeline.scoring.certainty import certainty, clear_margin
from app.pipeline.scoring.photo_sets import check_one_person
from app.pipeline.scoring.scorers import Aggregation, Scorer
from app.pipeline.scoring.several_photos import combine_embeddings
from app.pipeline.scoring.verification import check, subject_anchors, verify
from app.pipeline.serving.embedding_model import check_embedding, describe_model
from app.pipeline.serving.engine_loading import process_detector, process_embedder, running
from app.pipeline.serving.results import CheckResult, MatchResult, VerifyResult, named
from app.pipeline.serving.served_gallery import EnginePaths, ServedGallery

ANCHOR_MIN_SIDE = 256  # px: the smallest detection side of a subject check's anchors


class Engine:
    """Holds the detector, the embedder, the gallery and the scorer; each is built at most once."""

    def __init__(self, config: dict, paths: EnginePaths):
        self.config = config
        self.paths = paths
        self._lock = threading.RLock()
        self._served: ServedGallery | None = None
        self._runtime: str | None = None
        self._detector: Detector | None = None
        self._embedder: Embedder | None = None
        self._embedding_model: dict | None = None
        self._loaded = False
        self.failure: str | None = None  # why start-up failed (REPORT_STARTUP_ERRORS), else None
        self.pending: str | None = None  # what start-up still waits for (a gallery being fetched), else None
        self.watch = None  # with GALLERY_URL: what keeps the gallery current (builders/gallery_watch.py)

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

    def served(self) -> ServedGallery:
        """The gallery version served now, with its scorer and calibrations: a request takes it once and
        uses only it, so a switch to a newer version never mixes two versions in one answer."""
        self.raise_failure()
        state = self._served
        if state is None:
            if self.pending:
                raise Unavailable(f"Not ready yet: {self.pending}. Try again shortly.")
            with self._lock:
                if self._served is None:
                    self._served = ServedGallery(self.gallery_name(), self.config, self.paths)
                state = self._served
        return state

    def switch(self, name: str) -> ServedGallery:
        """Serve gallery `name` as it is published now: everything loaded first, then swapped in at once
        (requests in flight finish on the version they started with)."""
        state = ServedGallery(name, self.config, self.paths).load_all()
        with self._lock:
            self._served = state
        return state

    def served_version(self) -> tuple[str, str] | None:
        """(name, version stamp) of the gallery served, once opened; else None."""
        state = self._served
        gallery = state.opened() if state is not None else None
        return (gallery.name, gallery.version) if gallery is not None else None

    @property
    def gallery(self) -> Gallery:
        """The served gallery, memory-mapped (opened on first use)."""
        return self.served().gallery

    @property
    def scorer(self) -> Scorer:
        """The served gallery's scorer: cosine, or the learned model of MATCH_MODEL."""
        return self.served().scorer

    def model_name(self) -> str:
        """The learned model served (MATCH_MODEL, "auto" resolved), or "" for cosine."""
        return self.served().model_name()

    def index_info(self) -> dict:
        """What /readyz reports of the vector index in use."""
        return self.served().index_info()

    @property
    def calibration(self):
        """Verification calibration: the learned model's own, else the fitted file, else the default."""
        return self.served().calibration

    @property
    def check_calibration(self):
        """Subject-check calibration: the learned model's pair calibration, else check.json, else default."""
        return self.served().check_calibration

    @property
    def identity_norm(self):
        """HUB_CORRECTION's per-identity normalisation of the served gallery (None: off)."""
        return self.served().identity_norm

    @property
    def resemblance_reference(self) -> np.ndarray:
        """Best-match scores of non-gallery people under the scorer in use."""
        return self.served().resemblance_reference

    def thumbnail(self, name: str, version: str, row: int) -> str | None:
        """The thumbnail file of a row of gallery `name` at `version` (the served one, or an older version
        still on disk: a page rendered before a switch shows the faces it named), else None."""
        gallery = self.gallery
        if name != gallery.name or row < 0:
            return None
        folder = gallery.path if version == gallery.version else version_folder(self.paths.galleries, name, version)
        path = thumb_path(folder, row) if folder else None
        return path if path and os.path.isfile(path) else None

    def gallery_name(self) -> str:
        """GALLERY, or else the first gallery of GALLERY_PREFERENCE that exists (the last one if none)."""
        if self.config["GALLERY"]:
            return self.config["GALLERY"]
        preference = list(self.config["GALLERY_PREFERENCE"])
        return next((n for n in preference if os.path.isdir(self.gallery_path(n))), preference[-1])

    def gallery_path(self, name: str) -> str:
        """Folder of a named gallery."""
        return os.path.join(self.paths.galleries, name)

    def load_networks(self) -> None:
        """Build the detector and the embedder now (start-up, never per request)."""
        _ = self.detector, self.embedder

    def load_all(self) -> None:
        """Build every network and open the served gallery with all it needs now (start-up)."""
        self.load_networks()
        self.served().load_all()
        self.embedding_model()
        self._loaded = True

    def raise_failure(self) -> None:
        """The start-up failure again, without retrying the load (when start-up failed)."""
        if self.failure:
            raise StartupError(self.failure)

    def ready(self) -> bool:
        """True once load_all has built the networks and opened the gallery."""
        return self._loaded and not self.pending

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

    def match(self, data: bytes | list[bytes], top_k: int | None = None, face_index: int | None = None,
              filters: dict | None = None) -> MatchResult:
        """Top-k celebrities that look most like the main face of the photo (or face `face_index`), or of
        up to MATCH_PHOTOS_MAX photos of one person together, among those passing `filters` (gender,
        born_after, born_before; checked before any work)."""
        state = self.served()  # one version for the whole answer, whatever switch happens meanwhile
        allowed = allowed_in(state.gallery, AttributeFilter(**(filters or {})))
        photos = [data] if isinstance(data, bytes) else list(data)
        if len(photos) == 1:
            faces = [self.analyze(photos[0], face_index=face_index)]
            embedding = faces[0].embedding
        else:
            fields = [f"photo[{i}]" for i in range(len(photos))]
            faces = self.analyze_all(photos, fields)
            embedding = self._one_person(state, np.stack([face.embedding for face in faces]), fields)
        timings = {key: sum(face.timings.get(key, 0.0) for face in faces) for key in faces[0].timings}
        return self._ranked(state, faces, embedding, top_k, allowed, timings, len(faces))

    def _one_person(self, state: ServedGallery, embeddings: np.ndarray, fields: list[str]) -> np.ndarray:
        """The one query of several photos' embeddings [k, d]: DifferentPeople (naming the odd one) unless they
        show one person (MATCH_SAME_PERSON_MIN_P), else their normalised mean."""
        if len(embeddings) == 1:
            return embeddings[0]
        check_one_person(embeddings, fields, state.scorer, state.calibration, self.config["MATCH_SAME_PERSON_MIN_P"])
        return combine_embeddings(embeddings)

    def embedding_model(self) -> dict:
        """The served embedding model: id, dimension, weights and settings (serving/embedding_model.py)."""
        if self._embedding_model is None:
            self._embedding_model = describe_model(self.config, self.paths.weights)
        return self._embedding_model

    def match_embedding(self, values: list, fields: list[str], model_id: str, top_k: int | None = None,
                        filters: dict | None = None) -> MatchResult:
        """Top-k celebrities for the embeddings computed elsewhere (the visitor's browser) with the served model,
        one per photo of one person, named by `fields` in errors ("embedding", or "embeddings[1]"); each is
        checked, and several are combined as several photos' are; scored exactly as a photo's. The result has
        no query face (`query` is None)."""
        state = self.served()
        allowed = allowed_in(state.gallery, AttributeFilter(**(filters or {})))
        model = self.embedding_model()
        embeddings = np.stack([check_embedding(v, model, model_id, field) for v, field in zip(values, fields)])
        return self._ranked(state, [], self._one_person(state, embeddings, fields), top_k, allowed, {}, len(values))

    def _ranked(self, state: ServedGallery, faces: list[FaceResult], embedding: np.ndarray, top_k: int | None,
                allowed: tuple[np.ndarray | None, dict], timings: dict[str, float], photos: int) -> MatchResult:
        """The top-k identities for one embedding of `photos` photos among the allowed ones, named, with
        resemblance and certainty."""
        deadline.check("score")
        t0 = time.perf_counter()
        (passing, echo), gallery, scorer = allowed, state.gallery, state.scorer
        matches = scorer.rank(embedding, gallery.labels, gallery.identities, top_k or self.config["TOP_K"],
                              Aggregation.from_config(self.config), allowed=passing, norm=state.identity_norm)
        sure = certainty(matches, clear_margin(self.config["CERTAINTY_CLEAR_MARGIN"], photos))
        named_matches = named(matches, gallery, state.resemblance_reference)
        return MatchResult(query=faces[0] if faces else None, matches=named_matches,
                           timings=dict(timings, score=time.perf_counter() - t0), gallery=gallery.name,
                           scorer=scorer.name, filters=echo, photos=faces, version=gallery.version,
                           certainty=sure.as_dict() if sure else None, photos_used=photos)

    def verify(self, data1: bytes, data2: bytes) -> VerifyResult:
        """Are the main faces of two photos the same person?"""
        r1, r2 = self.analyze_all([data1, data2], ["photo1", "photo2"])
        state = self.served()
        return VerifyResult(verdict=verify(r1.embedding, r2.embedding, state.scorer, state.calibration),
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
        identity, state = None, self.served()
        if subject is not None:
            identity, anchor_emb = subject_anchors(state.gallery, subject)
        else:
            anchor_emb = np.stack([a.embedding for a in anchored])
        result = check(probe.embedding, anchor_emb, state.scorer, state.check_calibration)
        return CheckResult(verdict=result, probe=probe, anchors_used=int(len(anchor_emb)), subject=identity)

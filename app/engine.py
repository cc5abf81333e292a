"""The matching engine: networks and gallery loaded once per process, photo in, matches out."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field

import numpy as np
from flask import Flask, current_app

from app.config import calibration_path, galleries_dir, models_dir, weights_path
from app.detect import Detector, Face
from app.embed import Embedder
from app.errors import FaceTooSmall, NoFace, NoSuchFace, StartupError
from app.gallery import Gallery, face_thumbnail
from app.imaging import Photo, decode_image
from app.scoring import CosineScorer, Match, rank_identities

EXTENSION = "lookslike"


@dataclass
class FaceResult:
    """A photo's main face: detection, embedding, and every face found."""

    photo: Photo
    face: Face
    faces: list[Face]
    embedding: np.ndarray
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def face_index(self) -> int:
        """Position of the matched face in `faces` (the index a client passes as `face`)."""
        return next(i for i, f in enumerate(self.faces) if f is self.face)

    def thumbnail(self, size: int) -> np.ndarray:
        """Square crop of the face for display (only the pages need it, not the API)."""
        return face_thumbnail(self.photo, self.face, size)


@dataclass
class MatchResult:
    """The answer to 'who do I look like?'."""

    query: FaceResult
    matches: list[Match]
    timings: dict[str, float]


class Engine:
    """Holds the detector, the embedder and the gallery; each is built at most once."""

    def __init__(self, config: dict, weights: str, galleries: str, calibration_file: str = "",
                 models: str = "", check_calibration_file: str = ""):
        self.config = config
        self.weights_path = weights
        self.galleries_dir = galleries
        self.calibration_file = calibration_file
        self.check_calibration_file = check_calibration_file
        self.models_dir = models
        self._lock = threading.Lock()
        self._detector: Detector | None = None
        self._embedder: Embedder | None = None
        self._gallery: Gallery | None = None
        self._scorer = None
        self._calibration = None
        self._check_calibration = None

    @property
    def detector(self) -> Detector:
        """The MTCNN detector (built on first use)."""
        with self._lock:
            if self._detector is None:
                self._detector = Detector.from_config(self.config)
            return self._detector

    @property
    def embedder(self) -> Embedder:
        """The FaceNet embedder (built on first use; StartupError when weights are missing)."""
        with self._lock:
            if self._embedder is None:
                if not os.path.isfile(self.weights_path):
                    raise StartupError(f"FaceNet weights not found at {self.weights_path}. "
                                       "Run `flask weights fetch` (or `make weights`).")
                try:
                    self._embedder = Embedder.from_config(self.config, self.weights_path)
                except (OSError, ValueError) as exc:
                    raise StartupError(f"FaceNet weights at {self.weights_path} are corrupt ({exc}). "
                                       "Delete the file and run `flask weights fetch`.") from exc
            return self._embedder

    @property
    def gallery(self) -> Gallery:
        """The configured gallery, memory-mapped (opened on first use)."""
        with self._lock:
            if self._gallery is None:
                gallery = Gallery.load(self.gallery_path(self.config["GALLERY"]))
                gallery.check_pipeline(self.config)
                self._gallery = gallery
            return self._gallery

    @property
    def scorer(self):
        """Cosine, or the learned model named by MATCH_MODEL (loaded once, gallery encodings cached)."""
        gallery = self.gallery
        with self._lock:
            if self._scorer is None:
                model = self.config["MATCH_MODEL"]
                if not model:
                    self._scorer = CosineScorer(gallery.embeddings)
                else:
                    from app.learned import LearnedScorer

                    model_dir = os.path.join(self.models_dir, model)
                    if not os.path.isfile(os.path.join(model_dir, "config.json")):
                        raise StartupError(f"MATCH_MODEL '{model}' not found in {self.models_dir}. Run "
                                           f"`flask train --gallery {gallery.name} --out {model}` or unset it.")
                    self._scorer = LearnedScorer(model_dir, gallery, self.config["LEARNED_SHORTLIST"])
            return self._scorer

    @property
    def calibration(self):
        """Verification calibration: the learned model's own, else instance/calibration/facenet.json,
        else the configured default."""
        from app.verify import load_calibration

        if self._calibration is None:
            if self.config["MATCH_MODEL"]:
                self._calibration = self.scorer.calibration()
            else:
                self._calibration = load_calibration(self.calibration_file, self.config["VERIFY_CALIBRATION"])
        return self._calibration

    @property
    def check_calibration(self):
        """Subject-check calibration: the learned model's pair calibration, else check.json, else default."""
        from app.verify import load_calibration

        if self.config["MATCH_MODEL"]:
            return self.calibration
        if self._check_calibration is None:
            self._check_calibration = load_calibration(self.check_calibration_file,
                                                       self.config["CHECK_CALIBRATION"])
        return self._check_calibration

    def gallery_path(self, name: str) -> str:
        """Folder of a named gallery."""
        return os.path.join(self.galleries_dir, name)

    def load_all(self) -> None:
        """Open the gallery and build every network now (start-up, never per request)."""
        _ = self.gallery, self.detector, self.embedder, self.scorer, self.calibration, self.check_calibration

    def ready(self) -> bool:
        """True when networks and gallery are loaded."""
        return None not in (self._detector, self._embedder, self._gallery, self._scorer)

    def decode(self, data: bytes) -> Photo:
        """Decode upload bytes with the configured limits."""
        return decode_image(data, self.config["MAX_IMAGE_PIXELS"], self.config["DETECT_MAX_SIDE"])

    def analyze(self, data: bytes, face_index: int | None = None) -> FaceResult:
        """Decode a photo, detect its main face (or face number `face_index` of the detected
        faces, largest first) and embed it (typed errors for bad input)."""
        t0 = time.perf_counter()
        photo = self.decode(data)
        t1 = time.perf_counter()
        faces = self.detector.detect(photo)
        face = self.detector.main_face(faces, photo) if face_index is None else pick_face(
            faces, face_index, self.config["MIN_FACE_PX"])
        crop = self.detector.crop(photo, face)
        t2 = time.perf_counter()
        embedding = self.embedder.embed(crop[None])[0]
        t3 = time.perf_counter()
        return FaceResult(photo=photo, face=face, faces=faces, embedding=embedding,
                          timings={"decode": t1 - t0, "detect": t2 - t1, "embed": t3 - t2})

    def match(self, data: bytes, top_k: int | None = None, face_index: int | None = None) -> MatchResult:
        """Top-k celebrities that look most like the main face of the photo (or face `face_index`)."""
        query = self.analyze(data, face_index)
        t0 = time.perf_counter()
        gallery, scorer = self.gallery, self.scorer
        matches = rank_identities(scorer.row_scores(query.embedding), gallery.embeddings, query.embedding,
                                  gallery.labels, gallery.identities, top_k or self.config["TOP_K"],
                                  scorer.display, self.config["SCORE_AGGREGATE"], self.config["SCORE_MEAN_N"])
        timings = dict(query.timings, score=time.perf_counter() - t0)
        return MatchResult(query=query, matches=matches, timings=timings)


def pick_face(faces: list[Face], index: int, min_face_px: int) -> Face:
    """The face a visitor chose by its index in `faces`; 422 when there is no such face or it is
    too small to compare."""
    if not faces:
        raise NoFace("No face was found in this photo. Please upload a clear, front-facing photo"
                     " of one person.")
    if not 0 <= index < len(faces):
        count = "1 face (number 0)" if len(faces) == 1 else f"{len(faces)} faces (numbered 0 to {len(faces) - 1})"
        raise NoSuchFace(f"There is no face {index} in this photo: it has {count}.", field="face")
    face = faces[index]
    side = min(face.box[2], face.box[3]) * face.scale
    if side < min_face_px:
        raise FaceTooSmall(f"Face {index} is only {side:.0f} px across; at least {min_face_px} px is needed"
                           " to compare it. Please choose another face or a closer photo.", field="face")
    return face


def init_app(app: Flask) -> None:
    """Attach an Engine to the app; load everything now when EAGER_LOAD is set."""
    engine = Engine(app.config, weights_path(app), galleries_dir(app), calibration_path(app),
                    models_dir(app), calibration_path(app, "check"))
    app.extensions[EXTENSION] = engine
    if app.config["EAGER_LOAD"]:
        engine.load_all()


def get_engine() -> Engine:
    """The current app's engine."""
    return current_app.extensions[EXTENSION]

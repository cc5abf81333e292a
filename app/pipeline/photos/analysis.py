"""Photo bytes in, embedded main face out: the one per-photo path of serving and batch builds."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from app.pipeline import deadline
from app.pipeline.errors import InternalError, LooksLikeError
from app.pipeline.photos.crops import face_thumbnail
from app.pipeline.photos.detect import Detector
from app.pipeline.photos.embed import Embedder
from app.pipeline.photos.face_box import Face
from app.pipeline.photos.imaging import Photo, decode_image


@dataclass
class FaceResult:
    """A photo's main face: detection, embedding, and the (at most MAX_FACES largest) faces found."""

    photo: Photo
    face: Face
    faces: list[Face]
    embedding: np.ndarray
    timings: dict[str, float] = field(default_factory=dict)
    faces_total: int = 0  # faces found, including those past MAX_FACES (0: len(faces))

    def __post_init__(self):
        self.faces_total = max(self.faces_total, len(self.faces))

    @property
    def faces_ignored(self) -> int:
        """Faces found but not considered: smaller than the MAX_FACES largest."""
        return self.faces_total - len(self.faces)

    @property
    def face_index(self) -> int:
        """Position of the matched face in `faces` (the index a client passes as `face`)."""
        return next(i for i, f in enumerate(self.faces) if f is self.face)

    def thumbnail(self, size: int) -> np.ndarray:
        """Square crop of the face for display (only pages and gallery builds need it)."""
        return face_thumbnail(self.photo, self.face, size)


def decode(data: bytes, config: dict) -> Photo:
    """Decode photo bytes with the configured pixel limit, memory budget and detection size."""
    return decode_image(data, config["MAX_IMAGE_PIXELS"], config["DETECT_MAX_SIDE"],
                        int(config["DECODE_BUDGET_MB"] * 2**20))


def analyze_photos(blobs: list[bytes], detector: Detector, embedder: Embedder, config: dict,
                   face_index: int | None = None) -> list[FaceResult | LooksLikeError]:
    """Decode, detect (batched by shape), choose the main face, crop and embed a batch of photos.

    Each item is its FaceResult, or the LooksLikeError that says why it has no usable face.
    """
    deadline.check("decode")
    t0 = time.perf_counter()
    out: list[FaceResult | LooksLikeError | Photo] = []
    for data in blobs:
        try:
            out.append(decode(data, config))
        except LooksLikeError as exc:
            out.append(exc)
    t1 = time.perf_counter()
    decoded = [i for i, item in enumerate(out) if isinstance(item, Photo)]
    deadline.check("detect")
    found = detector.detect_batch([out[i] for i in decoded])
    crops, located = [], []
    for i, every in zip(decoded, found):
        photo, faces = out[i], every[:config["MAX_FACES"]]  # largest first: the N largest
        try:
            face = detector.main_face(faces, photo) if face_index is None else detector.pick_face(faces, face_index)
        except LooksLikeError as exc:
            out[i] = exc
            continue
        crops.append(detector.crop(photo, face))
        located.append((i, photo, face, faces, len(every)))
    deadline.check("embed")
    t2 = time.perf_counter()
    embeddings = embedder.embed(np.stack(crops)) if crops else []
    if len(crops) and not np.isfinite(embeddings).all():
        raise InternalError("The face network gave an invalid (non-finite) result: its weights may be damaged "
                            "(check them with `flask weights fetch`).")
    timings = {"decode": t1 - t0, "detect": t2 - t1, "embed": time.perf_counter() - t2}
    for (i, photo, face, faces, total), emb in zip(located, embeddings):
        out[i] = FaceResult(photo=photo, face=face, faces=faces, embedding=emb, timings=timings, faces_total=total)
    return out


def analyze_photo(data: bytes, detector: Detector, embedder: Embedder, config: dict,
                  face_index: int | None = None) -> FaceResult:
    """The embedded main face (or face number `face_index`) of one photo; raises the LooksLikeError
    that says why there is none."""
    result = analyze_photos([data], detector, embedder, config, face_index)[0]
    if isinstance(result, LooksLikeError):
        raise result
    return result

"""The JSON answers of match, verify and check: one place for the API and `--json` CLI output."""

from __future__ import annotations

import base64
import math
from collections.abc import Callable

from app.pipeline.errors import InternalError
from app.pipeline.galleries.reader import display_name
from app.pipeline.photos.analysis import FaceResult
from app.pipeline.photos.imaging import encode_jpeg
from app.pipeline.scoring.verification import Verdict
from app.pipeline.serving.results import CheckResult, MatchResult, VerifyResult


def jpeg_data_url(rgb) -> str:
    """Inline JPEG data: URL of a face crop (the visitor's face is never written to disk)."""
    return "data:image/jpeg;base64," + base64.b64encode(encode_jpeg(rgb)).decode("ascii")


def require_finite(answer: dict) -> dict:
    """The answer itself; InternalError if any number in it is NaN or infinite (never invalid JSON)."""
    stack: list = [answer]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, float) and not math.isfinite(item):
            raise InternalError("The answer came out as an invalid number: the server's model or gallery files "
                                "may be damaged.")
    return answer


ImageUrl = Callable[[str, str, int], str]  # (gallery name, version, row) -> URL of that row's thumbnail


def face_dict(result: FaceResult, field: str | None = None) -> dict:
    """The face used from one photo (box in the photo's pixels, confidence, faces detected)."""
    body = {"field": field} if field else {}
    return {**body, **result.face.to_dict(), **face_counts(result)}


def face_counts(result: FaceResult) -> dict:
    """Faces listed (the MAX_FACES largest), found in all, and left out for being smaller."""
    return {"faces_detected": len(result.faces), "faces_total": result.faces_total,
            "faces_ignored": result.faces_ignored}


def match_answer(result: MatchResult, image_url: ImageUrl) -> dict:
    """The answer to a match: the face used, every face found, and the top-k look-alikes."""
    return require_finite({
        "face": result.query.face.to_dict(),
        "face_index": result.query.face_index,
        **face_counts(result.query),
        "faces": [f.to_dict() for f in result.query.faces],
        **embedding_match_answer(result, image_url),
    })


# The fields of a photo's answer that an embedding's answer lacks: the server never saw the photo.
FACE_FIELDS = ("face", "face_index", "faces_detected", "faces_total", "faces_ignored", "faces")


def embedding_match_answer(result: MatchResult, image_url: ImageUrl) -> dict:
    """The answer to a match on an embedding: a photo's answer without FACE_FIELDS."""
    return require_finite({
        "gallery": result.gallery,
        "gallery_version": result.version,
        "scorer": result.scorer,
        "matches": [{"name": m.name or display_name(m.identity), "identity": m.identity,
                     "score": round(m.score, 4), "cosine": round(m.cosine, 4),
                     "resemblance": None if m.resemblance is None else round(m.resemblance, 1),
                     "image_url": image_url(result.gallery, result.version, m.portrait if m.portrait >= 0 else m.row),
                     **m.attributes} for m in result.matches],
        **({"filters": result.filters} if result.filters else {}),
        "photos_used": result.photos_used,
        "certainty": result.certainty,
        **({"photos": [face_dict(face, f"photo[{i}]") for i, face in enumerate(result.photos)]}
           if len(result.photos) > 1 else {}),
    })


def verdict_dict(v: Verdict) -> dict:
    """Verdict fields shared by verify and check."""
    return {"probability": round(v.probability, 4), "distance": round(v.distance, 4),
            "threshold": round(v.threshold, 4)}


def verify_answer(result: VerifyResult) -> dict:
    """The answer to 'are these two photos the same person?'."""
    return require_finite({"same_person": result.verdict.same, **verdict_dict(result.verdict),
                           "faces": [face_dict(r, f"photo{i}") for i, r in enumerate(result.faces, 1)]})


def check_answer(result: CheckResult) -> dict:
    """The answer to 'is this photo that subject?'."""
    answer = {"probability": round(result.verdict.probability, 4), "is_subject": result.verdict.same,
              "anchors_used": result.anchors_used, "distance": round(result.verdict.distance, 4),
              "threshold": round(result.verdict.threshold, 4), "aggregate": "median distance to the anchors",
              "face": face_dict(result.probe, "photo")}
    if result.subject is not None:
        answer["subject"] = result.subject
    return require_finite(answer)

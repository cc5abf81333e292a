"""Reading photos and parameters out of a request: multipart fields or JSON base64."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

import numpy as np
from flask import current_app, request

from app.pipeline.errors import BadRequest

KEEP_BRACKETS = bytes(range(256)).translate(None, b"[]{}")  # every byte but the brackets: deleted
AS_SQUARE = bytes.maketrans(b"{}", b"[]")  # depth does not depend on the kind of bracket


def json_too_deep(data: bytes, limit: int) -> bool:
    """True when brackets nest deeper than `limit`: checked before parsing, in one vectorized pass.

    Brackets inside strings count too (conservative: our bodies carry base64 and names). The depth
    at a point is the opens minus the closes before it; unbalanced bodies are the parser's to reject.
    """
    brackets = np.frombuffer(data.translate(AS_SQUARE, KEEP_BRACKETS), np.uint8)
    depth = 0
    for start in range(0, len(brackets), 1 << 18):  # in blocks: small arrays, early exit
        steps = 92 - brackets[start:start + (1 << 18)].astype(np.int32)  # "[" (91) -> +1, "]" (93) -> -1
        running = np.cumsum(steps) + depth
        if int(running.max()) > limit:
            return True
        depth = int(running[-1])
    return False


def json_body() -> dict | None:
    """The JSON object of a JSON request, None for other requests; 400 when malformed or too deep."""
    if not request.is_json:
        return None
    limit = current_app.config["JSON_MAX_DEPTH"]
    if json_too_deep(request.get_data(cache=True), limit):
        raise BadRequest(f"The JSON body nests more than {limit} levels deep.")
    try:
        body = request.get_json(silent=True)
    except RecursionError:
        raise BadRequest(f"The JSON body nests more than {limit} levels deep.") from None
    if not isinstance(body, dict):
        raise BadRequest("The request body is not a JSON object.")
    return body


def photo_bytes(field: str, json_field: str) -> bytes:
    """Bytes of the photo in multipart field `field`, or base64 JSON field `json_field`."""
    body = json_body()
    if body is not None:
        if json_field not in body:
            raise BadRequest(f'JSON field "{json_field}" (base64 image) is missing.', field=json_field)
        return decode_base64(body[json_field], json_field)
    upload = request.files.get(field)
    if upload is None or not upload.filename and upload.content_length == 0:
        raise BadRequest(f'No photo was sent: multipart field "{field}" is missing.', field=field)
    data = upload.read()
    if not data:
        raise BadRequest(f'The file in field "{field}" is empty.', field=field)
    return data


def whole_number(name: str) -> int | None:
    """A whole-number parameter (JSON, form or query string); None when absent or blank."""
    body = json_body()
    raw = body.get(name) if body is not None else None
    if raw is None:
        raw = request.form.get(name) or request.args.get(name)
    if raw is None or raw == "":
        return None
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and re.fullmatch(r"\s*[0-9]{1,6}\s*", raw):
        return int(raw)
    raise BadRequest(f'"{name}" must be a whole number.', field=name)


def top_k(default: int, maximum: int) -> int:
    """The requested number of matches (JSON, form or query string), validated to 1..maximum."""
    try:
        value = whole_number("top_k")
    except BadRequest:
        raise BadRequest(f'"top_k" must be a whole number from 1 to {maximum}.', field="top_k") from None
    if value is None:
        return default
    if not 1 <= value <= maximum:
        raise BadRequest(f'"top_k" must be from 1 to {maximum}; got {value}.', field="top_k")
    return value


def face_index() -> int | None:
    """The optional `face` parameter: index of the face to match in the answer's `faces` list
    (0 = the largest); None lets the app choose the central face. Its range is checked against
    the faces found (422 no_such_face)."""
    try:
        return whole_number("face")
    except BadRequest:
        raise BadRequest('"face" must be a whole number: the index of a face in "faces", from 0.',
                         field="face") from None


def photo_list(field: str, json_field: str, maximum: int) -> list[bytes]:
    """Zero or more photos: repeated multipart field `field` or JSON list of base64 `json_field`."""
    body = json_body()
    if body is not None:
        items = body.get(json_field) or []
        if not isinstance(items, list):
            raise BadRequest(f'JSON field "{json_field}" must be a list of base64 images.', field=json_field)
        photos = [decode_base64(text, f"{json_field}[{i}]") for i, text in enumerate(items)]
    else:
        photos = [upload.read() for upload in request.files.getlist(field)]
    if len(photos) > maximum:
        what = "photos" if field == "photo" else f"{field} photos"
        raise BadRequest(f"At most {maximum} {what} are accepted; got {len(photos)}.", field=field)
    for i, data in enumerate(photos):
        if not data:
            raise BadRequest(f"{field}[{i}]: the file is empty.", field=f"{field}[{i}]")
    return photos


def text_field(name: str) -> str | None:
    """A text parameter from JSON, form or query string (None when absent or blank)."""
    body = json_body()
    value = body.get(name) if body is not None else request.form.get(name, request.args.get(name))
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(f'"{name}" must be a string.', field=name)
    return value.strip() or None


def decode_base64(text: str, field: str) -> bytes:
    """Decode a base64 JSON field (a data: URL prefix is accepted) into bytes."""
    if not isinstance(text, str) or not text.strip():
        raise BadRequest(f'Field "{field}" must be a non-empty base64 string.', field=field)
    if text.startswith("data:"):
        text = text.partition(",")[2]
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadRequest(f'Field "{field}" is not valid base64.', field=field) from exc


@dataclass(frozen=True)
class MatchInputs:
    """What a match request asks for: the photo's bytes, how many matches, and which face (None: the
    app picks the central one)."""

    photos: list[bytes]  # one, or up to MATCH_PHOTOS_MAX of one person
    top_k: int
    face_index: int | None
    filters: dict  # gender, born_after, born_before: those sent (the engine checks their values)


def search_filters() -> dict:
    """The optional filters of a search: `gender` (female|male), `born_after`, `born_before` (years)."""
    gender = text_field("gender")
    found = {"gender": gender.lower() if gender else None}
    for name in ("born_after", "born_before"):
        try:
            found[name] = whole_number(name)
        except BadRequest:
            raise BadRequest(f'"{name}" must be a year, e.g. 1970.', field=name) from None
    return {k: v for k, v in found.items() if v is not None}


def match_photos() -> list[bytes]:
    """The photos of a match: multipart `photo` (repeated for several), or JSON `image` or `images`."""
    most = current_app.config["MATCH_PHOTOS_MAX"]
    body = json_body()
    several = len(request.files.getlist("photo")) > 1 if body is None else body.get("images") is not None
    if not several:
        return [photo_bytes("photo", "image")]
    if body is not None and body.get("image") is not None:
        raise BadRequest('Send "image" (one photo) or "images" (several), not both.', field="images")
    photos = photo_list("photo", "images", most)
    if not photos:
        raise BadRequest('"images" is empty: send at least one base64 photo.', field="images")
    return photos


def photo_count() -> int:
    """How many photos a request carries (JSON `images`, or `embeddings`, one per photo; 1 for anything else):
    the rate limit and the CPU queue count each, up to MATCH_PHOTOS_MAX (more is refused with a 400)."""
    body = json_body()
    if body is not None:
        several = next((body[k] for k in ("images", "embeddings") if isinstance(body.get(k), list) and body[k]), [])
        count = len(several)
    else:
        count = len(request.files.getlist("photo"))
    return min(max(1, count), current_app.config["MATCH_PHOTOS_MAX"])


def match_inputs() -> MatchInputs:
    """The photos (multipart `photo`, JSON `image` or `images`), `top_k`, optional `face` (one photo
    only) and filters of a match request, checked in that order."""
    config = current_app.config
    photos = match_photos()
    face = face_index()
    if face is not None and len(photos) > 1:
        raise BadRequest('"face" picks a face of one photo; with several photos each photo\'s main face is used.',
                         field="face")
    return MatchInputs(photos, top_k(config["TOP_K"], config["TOP_K_MAX"]), face, search_filters())

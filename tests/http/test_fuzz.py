"""Property-based fuzzing (hypothesis) of decoding and request parsing: never a 500, always the error shape.

Random bytes, image headers of every format we read with bytes flipped, cut or spliced, odd
multipart (names, filenames in any encoding, content types, raw bodies) and odd JSON.
"""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from app.pipeline.errors import LooksLikeError
from app.pipeline.photos.imaging import decode_image
from conftest import require_setup

FUZZ = settings(deadline=None, database=None, suppress_health_check=list(HealthCheck), derandomize=True)
DOCUMENTED = {200, 400, 413, 415, 422}


def seed_images() -> dict[str, bytes]:
    """A small picture in each format the decoder meets (JPEG, PNG, GIF, WebP, BMP, TIFF, AVIF)."""
    rgb = np.random.default_rng(1).integers(0, 255, (24, 32, 3), dtype=np.uint8)
    out = {}
    for fmt in ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "AVIF"):
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, fmt)
        out[fmt] = buf.getvalue()
    return out


SEEDS = seed_images()


@st.composite
def mutated_image(draw) -> bytes:
    """A seed image with its header (and sometimes its body) flipped, cut, spliced or repeated."""
    data = bytearray(SEEDS[draw(st.sampled_from(sorted(SEEDS)))])
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "flip", "set", "cut", "insert", "splice"]))
        region = draw(st.sampled_from([64, 512, len(data)]))  # the header, the first blocks, anywhere
        pos = draw(st.integers(0, max(0, min(len(data), region) - 1)))
        if kind == "flip" and data:
            data[pos] ^= draw(st.integers(1, 255))
        elif kind == "set" and data:
            data[pos] = draw(st.sampled_from([0, 0xFF, 0x7F, 0x80]))
        elif kind == "cut":
            del data[pos:]
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(max_size=32))
        else:
            other = SEEDS[draw(st.sampled_from(sorted(SEEDS)))]
            data[pos:] = other[draw(st.integers(0, len(other))):]
    return bytes(data)


def decodes_or_says_why(data: bytes) -> None:
    """decode_image either decodes or raises one of the documented errors."""
    try:
        photo = decode_image(data, 4_000_000, 256)
        assert photo.rgb.ndim == 3 and photo.rgb.shape[2] == 3
    except LooksLikeError as exc:
        assert exc.code in {"bad_request", "too_large", "decode_too_large", "unsupported_media"}


@FUZZ
@given(st.binary(max_size=2048))
def test_decode_random_bytes(data):
    decodes_or_says_why(data)


@settings(FUZZ, max_examples=1500)
@given(mutated_image())
def test_decode_mutated_headers(data):
    decodes_or_says_why(data)


@pytest.mark.parametrize("fmt", sorted(SEEDS))
def test_decode_every_single_byte_flip(fmt):
    """Deterministic sweep: each byte of each seed inverted in turn (found RuntimeError in AVIF, TypeError
    in TIFF)."""
    data = SEEDS[fmt]
    for i in range(len(data)):
        flipped = bytearray(data)
        flipped[i] ^= 0xFF
        decodes_or_says_why(bytes(flipped))


@pytest.fixture(scope="module")
def fuzz_client():
    """One app for all examples (hypothesis runs many per test)."""
    require_setup()
    from app import create_app
    return create_app({"TESTING": True, "EAGER_LOAD": True}).test_client()


def answered_well(resp) -> None:
    """A documented status, and the error shape whenever it is not a success."""
    assert resp.status_code in DOCUMENTED, (resp.status_code, resp.get_data()[:300])
    body = resp.get_json()
    if resp.status_code == 200:
        assert "matches" in body
    else:
        assert set(body) <= {"error", "message", "field"} and body["error"] and body["message"]


TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)
FILENAME = st.one_of(st.binary(max_size=40).filter(lambda b: b'"' not in b and b"\r" not in b and b"\n" not in b),
                     st.just(b""))


@st.composite
def multipart_body(draw) -> tuple[bytes, str]:
    """A multipart body with odd names, filenames in any encoding, content types and payloads."""
    boundary = draw(st.sampled_from(["B", "----x1", "a" * 70, "b'q"]))
    parts = []
    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.sampled_from(["photo", "top_k", "image", "", "ph\u00f6to", "photo\x00"]))
        head = f'Content-Disposition: form-data; name="{name}"'.encode("utf-8", "replace")
        if draw(st.booleans()):
            head += b'; filename="' + draw(FILENAME) + b'"'
        if draw(st.booleans()):
            head += b"\r\nContent-Type: " + draw(st.sampled_from([b"image/jpeg", b"text/plain; charset=koi8-r",
                                                                  b"\xff\xfe", b""]))
        payload = draw(st.one_of(mutated_image(), st.binary(max_size=200), st.sampled_from([b"3", b"-1", b"99"])))
        parts.append(head + b"\r\n\r\n" + payload + b"\r\n")
    body = b"".join(f"--{boundary}\r\n".encode() + p for p in parts) + f"--{boundary}--\r\n".encode()
    if draw(st.booleans()):
        body = body[:draw(st.integers(0, len(body)))]
    ctype = draw(st.sampled_from([f"multipart/form-data; boundary={boundary}",
                                  f'multipart/form-data; boundary="{boundary}"', "multipart/form-data",
                                  "multipart/form-data; boundary=", "multipart/mixed; boundary=B"]))
    return body, ctype


@settings(FUZZ, max_examples=120)
@given(multipart_body(), st.sampled_from(["/api/v1/match", "/api/v1/verify", "/api/v1/check", "/match", "/verify"]))
def test_odd_multipart(fuzz_client, case, url):
    body, ctype = case
    resp = fuzz_client.post(url, data=body, content_type=ctype)
    if url.startswith("/api/"):
        answered_well(resp)
    else:  # pages: the same statuses, on the page the form came from
        assert resp.status_code in DOCUMENTED and resp.mimetype == "text/html", resp.status_code


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
                    max_leaves=20)


@st.composite
def json_request(draw) -> dict:
    """A JSON object with our keys holding anything, or any JSON, or broken JSON text."""
    kind = draw(st.sampled_from(["ours", "any", "text"]))
    if kind == "ours":
        image = draw(st.one_of(JSON, mutated_image().map(lambda b: base64.b64encode(b).decode()),
                               mutated_image().map(lambda b: "data:image/png;base64," + base64.b64encode(b).decode())))
        value = {"image": image, "top_k": draw(JSON), "anchors": draw(JSON), "subject": draw(JSON),
                 "image1": image, "image2": draw(JSON)}
        return {"data": json.dumps(value)}
    if kind == "any":
        return {"data": json.dumps(draw(JSON))}
    return {"data": draw(st.binary(max_size=200))}


@settings(FUZZ, max_examples=150)
@given(json_request(), st.sampled_from(["/api/v1/match", "/api/v1/verify", "/api/v1/check"]),
       st.sampled_from(["application/json", "application/json; charset=latin-1", "application/vnd.x+json"]))
def test_odd_json(fuzz_client, request_kwargs, url, ctype):
    answered_well(fuzz_client.post(url, content_type=ctype, **request_kwargs))


CONTENT_TYPES = ["", "text/plain", "application/octet-stream", "image/jpeg", "application/x-www-form-urlencoded",
                 "multipart/form-data; boundary=B"]


@settings(FUZZ, max_examples=80)
@given(st.binary(max_size=600), st.sampled_from(CONTENT_TYPES),
       st.dictionaries(st.sampled_from(["top_k", "subject", "x"]), TEXT, max_size=2))
def test_any_body_any_type(fuzz_client, body, ctype, query):
    answered_well(fuzz_client.post("/api/v1/match", data=body, content_type=ctype or None, query_string=query))

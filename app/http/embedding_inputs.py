"""Reading an embedding out of a JSON request (the API's match, and the page's private mode): one
`embedding`, or `embeddings`, up to MATCH_PHOTOS_MAX of them for several photos of one person.

Only the request's shape is checked here (lists of JSON numbers, a model id string); the engine
checks what depends on the served model (`Engine.match_embedding`: id, dimension, finite, unit
length, one person). An embedding is biometric data: no message here or there repeats its values.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.http.inputs import json_body, top_k
from app.pipeline.errors import BadRequest

EMBEDDING_FIELDS = ("embedding", "embeddings")
PHOTO_FIELDS = ("image", "images", "photo", "face")  # a photo request's own fields: meaningless beside an embedding
MAX_VALUES = 4096  # far above any served dimension: longer lists are refused before their values are read


@dataclass(frozen=True)
class EmbeddingQuery:
    """The embeddings sent for matching (one per photo) with their field names, the model id they were
    computed with, and the matches wanted."""

    values: list[list[float]]
    fields: list[str]  # "embedding", or "embeddings[0]", "embeddings[1]", ...
    model_id: str
    top_k: int


def sends_embedding() -> bool:
    """True when the request is a JSON body with an embedding instead of a photo."""
    body = json_body()
    return body is not None and any(name in body for name in EMBEDDING_FIELDS)


def numbers(value, field: str) -> list[float]:
    """A JSON list of numbers (not strings, not booleans), or 400 naming the field."""
    if not isinstance(value, list):
        raise BadRequest(f'"{field}" must be a list of numbers (the L2-normalized face embedding).', field=field)
    if len(value) > MAX_VALUES:
        raise BadRequest(f'"{field}" holds {len(value)} values; an embedding has far fewer.', field=field)
    for i, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            raise BadRequest(f'"{field}[{i}]" must be a JSON number, not {type(item).__name__}.', field=field)
    return value


def several_embeddings(value, most: int) -> list[list[float]]:
    """`embeddings`: a list of 1 to `most` embeddings (one per photo of the same person), each a list of numbers."""
    if not isinstance(value, list) or not value:
        raise BadRequest(f'"embeddings" must be a list of 1 to {most} embeddings (one per photo of the same person), '
                         "each a list of numbers.", field="embeddings")
    numbers(value[0], "embeddings[0]")  # one embedding's numbers, sent as if they were several embeddings
    if len(value) > most:
        raise BadRequest(f'"embeddings" holds {len(value)} embeddings; at most {most} photos are matched together.',
                         field="embeddings")
    return [numbers(item, f"embeddings[{i}]") for i, item in enumerate(value)]


def embedding_query(config) -> EmbeddingQuery:
    """The request's embedding, `embedding_model` and `top_k`; 400 naming the field that is wrong."""
    body = json_body()
    if body is None:
        raise BadRequest('Send the embedding as a JSON object: {"embedding": [...], "embedding_model": "..."}.',
                         field="embedding")
    for name in PHOTO_FIELDS:
        if name in body:
            raise BadRequest(f'"{name}" belongs to a photo request; send either a photo or an embedding.', field=name)
    if "embedding" in body and "embeddings" in body:
        raise BadRequest('Send "embedding" (one photo\'s) or "embeddings" (several photos\'), not both.',
                         field="embeddings")
    if "embeddings" in body:
        values = several_embeddings(body["embeddings"], config["MATCH_PHOTOS_MAX"])
        fields = [f"embeddings[{i}]" for i in range(len(values))]
    elif "embedding" in body:
        values, fields = [numbers(body["embedding"], "embedding")], ["embedding"]
    else:
        raise BadRequest('JSON field "embedding" (the face embedding) is missing.', field="embedding")
    model_id = body.get("embedding_model")
    if not isinstance(model_id, str) or not model_id.strip():
        raise BadRequest('"embedding_model" must be the id of the model the embedding was computed with '
                         "(GET /api/v1/model).", field="embedding_model")
    return EmbeddingQuery(values, fields, model_id.strip(), top_k(config["TOP_K"], config["TOP_K_MAX"]))

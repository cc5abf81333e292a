"""Reading an embedding out of a JSON request (the API's match, and the page's private mode).

Only the request's shape is checked here (a list of JSON numbers, a model id string); the engine
checks what depends on the served model (`Engine.match_embedding`: id, dimension, finite, unit
length). An embedding is biometric data: no message here or there repeats its values.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.http.inputs import json_body, top_k
from app.pipeline.errors import BadRequest

EMBEDDING_FIELDS = ("embedding", "embeddings")
PHOTO_FIELDS = ("image", "photo", "face")  # a photo request's own fields: meaningless beside an embedding
MAX_VALUES = 4096  # far above any served dimension: longer lists are refused before their values are read


@dataclass(frozen=True)
class EmbeddingQuery:
    """One embedding sent for matching, the model id it was computed with, and the matches wanted."""

    values: list[float]
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


def several_embeddings(value) -> None:
    """The several-photo form (`embeddings`): not served yet, so a clear 400 rather than a guess."""
    raise BadRequest('"embeddings" (one per photo of the same person) is not supported yet: send one "embedding".',
                     field="embeddings")


def embedding_query(config) -> EmbeddingQuery:
    """The request's embedding, `embedding_model` and `top_k`; 400 naming the field that is wrong."""
    body = json_body()
    if body is None:
        raise BadRequest('Send the embedding as a JSON object: {"embedding": [...], "embedding_model": "..."}.',
                         field="embedding")
    if "embeddings" in body:
        several_embeddings(body["embeddings"])
    for name in PHOTO_FIELDS:
        if name in body:
            raise BadRequest(f'"{name}" belongs to a photo request; send either a photo or an embedding.', field=name)
    if "embedding" not in body:
        raise BadRequest('JSON field "embedding" (the face embedding) is missing.', field="embedding")
    values = numbers(body["embedding"], "embedding")
    model_id = body.get("embedding_model")
    if not isinstance(model_id, str) or not model_id.strip():
        raise BadRequest('"embedding_model" must be the id of the model the embedding was computed with '
                         "(GET /api/v1/model).", field="embedding_model")
    return EmbeddingQuery(values, model_id.strip(), top_k(config["TOP_K"], config["TOP_K_MAX"]))

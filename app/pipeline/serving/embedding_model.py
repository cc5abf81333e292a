"""The served embedding model: what decides an embedding, its id, and the check of an embedding sent in.

A client that computes embeddings itself (the page's private mode, or an API client) must use the
same FaceNet weights and the same detection and crop settings as the server, or its embeddings
land elsewhere in the space and its matches are wrong without any error. The model id is a hash
of the weights' sha256 and of every setting that changes which face is cropped and how it is
embedded; the server refuses an embedding whose id differs (409 model_mismatch), so a page cached
before an upgrade is told to reload instead of getting wrong matches.
"""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np

from app.datasets.download import sha256_file
from app.pipeline.errors import BadRequest, ModelMismatch
from app.pipeline.galleries.reader import pipeline_settings
from app.pipeline.networks.checksums import read_checksums
from models.facenet import EMBEDDING_DIM, INPUT_SIDE

# Besides the settings a gallery is built with (pipeline_settings): the pruned pyramid's face fraction
# and the faces listed, which a client computing embeddings must reproduce too.
CLIENT_SETTINGS = ("DETECT_MIN_FACE_FRACTION", "MAX_FACES")
UNIT_TOLERANCE = 1e-3  # served embeddings are L2-normalized; a sent one must be within this of length 1


def weights_digest(weights_path: str) -> str:
    """sha256 of the FaceNet weights file: from its SHA256SUMS record, else computed."""
    recorded = read_checksums(os.path.dirname(weights_path)).get(os.path.basename(weights_path))
    return recorded or sha256_file(weights_path)


def describe_model(config: dict, weights_path: str) -> dict:
    """The served model: id, dimension, the weights' sha256 and the settings the id covers."""
    settings = {name.lower(): value for name, value in pipeline_settings(config).items()}
    settings.update({name.lower(): config[name] for name in CLIENT_SETTINGS})
    settings["input_side"] = INPUT_SIDE
    network = {"file": os.path.basename(weights_path), "sha256": weights_digest(weights_path)}
    canonical = json.dumps({"network": network["sha256"], "dimension": EMBEDDING_DIM, "settings": settings},
                           sort_keys=True, separators=(",", ":"))
    model_id = "facenet-" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]
    return {"id": model_id, "dimension": EMBEDDING_DIM, "network": network, "settings": settings}


def check_embedding(values, model: dict, model_id: str, field: str = "embedding") -> np.ndarray:
    """The embedding as a unit float32 vector; 409 ModelMismatch for another model, 400 naming `field` when
    it has the wrong length, a value that is not finite, or not unit length (zero included)."""
    if model_id != model["id"]:
        raise ModelMismatch("This embedding was computed with another face model than the one this server uses "
                            f"now ({model['id']}): reload the page (or fetch /api/v1/model) and compute it again.",
                            field="embedding_model")
    vector = np.asarray(values, dtype=np.float64).reshape(-1)
    if len(vector) != model["dimension"]:
        raise BadRequest(f'"{field}" must hold exactly {model["dimension"]} numbers; got {len(vector)}.', field=field)
    bad = np.flatnonzero(~np.isfinite(vector))
    if len(bad):
        raise BadRequest(f'"{field}[{bad[0]}]" is not a finite number (NaN or infinity).', field=field)
    norm = float(np.linalg.norm(vector))
    if abs(norm - 1.0) > UNIT_TOLERANCE:
        raise BadRequest(f'"{field}" must have unit length (L2 norm 1 within {UNIT_TOLERANCE:g}), as the served '
                         f"embeddings are normalized; its norm is {norm:.4g}.", field=field)
    return (vector / norm).astype(np.float32)

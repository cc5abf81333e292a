"""The API's OpenAPI pieces: answer schemas (app/pipeline/serving/answers.py's JSON) and request bodies."""

from __future__ import annotations

from flask import Flask


def ref(name: str) -> dict:
    """A $ref to a component schema."""
    return {"$ref": f"#/components/schemas/{name}"}


def json_ok(name: str, description: str) -> dict:
    """A 200 response with a JSON component schema."""
    return {"200": {"description": description, "content": {"application/json": {"schema": ref(name)}}}}


BOX = {"type": "array", "items": {"type": "integer"}, "minItems": 4, "maxItems": 4,
       "description": "[x, y, width, height] in the uploaded photo's pixels (after EXIF rotation)."}
FACE = {"type": "object", "required": ["box", "confidence"],
        "properties": {"box": BOX, "confidence": {"type": "number", "minimum": 0, "maximum": 1}}}
COUNTS = {"faces_detected": {"type": "integer", "minimum": 1, "description": "Faces listed: the MAX_FACES "
                             "largest of those found."},
          "faces_total": {"type": "integer", "minimum": 1, "description": "Faces found. MTCNN checks only the "
                          "largest candidates (3 x MAX_FACES), so in a crowd this is a lower bound."},
          "faces_ignored": {"type": "integer", "minimum": 0, "description": "faces_total - faces_detected: "
                            "faces smaller than the MAX_FACES largest, neither listed nor compared."}}
FACE_USED = {"type": "object", "required": ["box", "confidence", "faces_detected", "faces_total", "faces_ignored"],
             "properties": {"field": {"type": "string"}, "box": BOX, "confidence": {"type": "number"}, **COUNTS}}
MATCH = {"type": "object", "required": ["name", "identity", "score", "cosine", "image_url"], "properties": {
    "name": {"type": "string", "description": "Display name."},
    "identity": {"type": "string", "description": "Gallery folder name."},
    "score": {"type": "number", "minimum": 0, "maximum": 1, "description": "(1 + cosine) / 2, or the learned model's "
              "similarity."},
    "cosine": {"type": "number", "minimum": -1, "maximum": 1},
    "image_url": {"type": "string", "description": "The identity's portrait (its best gallery photo, whatever "
                  "photo matched): absolute from PUBLIC_URL (or the trusted proxy's host), else a path on this "
                  "server."},
    "gender": {"type": "string", "enum": ["female", "male"], "description": "When the gallery records it."},
    "birth_year": {"type": "integer", "description": "When the gallery records it."}}}
FILTERS = {"type": "object", "required": ["celebrities", "left_out_unknown"], "properties": {
    "gender": {"type": "string"}, "born_after": {"type": "integer"}, "born_before": {"type": "integer"},
    "celebrities": {"type": "integer", "description": "Celebrities passing the filters."},
    "left_out_unknown": {"type": "integer", "description": "Celebrities left out because the gallery does not "
                         "record what a filter asks about (never left out silently)."}}}
MATCH_ANSWER = {"type": "object", "required": ["face", "faces_detected", "faces_total", "faces_ignored", "faces",
                                             "gallery", "scorer", "matches"],
                "properties": {"face": FACE, **COUNTS,
                               "faces": {"type": "array", "items": FACE}, "gallery": {"type": "string"},
                               "gallery_version": {"type": "string", "description": "The gallery version's "
                                                   "stamp (image URLs carry it)."},
                               "scorer": {"type": "string"}, "matches": {"type": "array", "items": ref("Match")},
                               "filters": FILTERS,
                               "photos_used": {"type": "integer", "minimum": 1, "description": "Photos (or "
                                               "embeddings) of one person matched together."},
                               "certainty": {"type": "object", "nullable": True, "properties": {
                                   "level": {"type": "string", "enum": ["clear", "close_call"]},
                                   "margin": {"type": "number"}}},
                               "photos": {"type": "array", "items": ref("FaceUsed"), "description": "With "
                                          "several photos: the face used from each (field photo[i])."}}}
EMBEDDING_MATCH_ANSWER = {"type": "object", "required": ["gallery", "scorer", "matches"],
                          "description": "A photo's answer without its face fields: the server never saw the photo.",
                          "properties": {k: MATCH_ANSWER["properties"][k]
                                         for k in ("gallery", "gallery_version", "scorer", "matches", "filters",
                                                   "photos_used", "certainty")}}
MODEL = {"type": "object", "required": ["id", "dimension", "network", "settings"], "properties": {
    "id": {"type": "string", "description": "Send it as embedding_model with an embedding."},
    "dimension": {"type": "integer", "description": "Numbers in an embedding."},
    "network": {"type": "object", "description": "The FaceNet weights file and its sha256."},
    "settings": {"type": "object", "description": "Detection, main-face, crop and embedding settings the id covers."},
    "private_mode": {"type": "object", "description": "Whether the page can run the networks in the browser, "
                     "and why not."},
    "assets": {"type": "object", "nullable": True, "description": "The browser copies of the networks and of ONNX "
               "Runtime Web: URL, sha256 and size of each (null when they are not installed)."}}}
VERDICT = {"probability": {"type": "number", "minimum": 0, "maximum": 1,
                           "description": "Calibrated probability of the same person."},
           "distance": {"type": "number"}, "threshold": {"type": "number"}}
VERIFY_ANSWER = {"type": "object", "required": ["same_person", "probability", "distance", "threshold", "faces"],
                 "properties": {"same_person": {"type": "boolean"}, **VERDICT,
                                "faces": {"type": "array", "items": ref("FaceUsed"), "minItems": 2, "maxItems": 2}}}
CHECK_ANSWER = {"type": "object",
                "required": ["probability", "is_subject", "anchors_used", "distance", "threshold", "face"],
                "properties": {"is_subject": {"type": "boolean"}, **VERDICT,
                               "anchors_used": {"type": "integer", "minimum": 1}, "aggregate": {"type": "string"},
                               "face": ref("FaceUsed"), "subject": {"type": "string"}}}
HEALTH = {"type": "object", "required": ["status"], "properties": {"status": {"type": "string", "enum": ["ok"]}}}
READY = {"type": "object", "required": ["status"], "properties": {
    "status": {"type": "string", "enum": ["ready", "loading", "failed"]}, "gallery": {"type": "string"},
    "error": {"type": "string", "enum": ["startup_failed"]},
    "message": {"type": "string", "description": "Why start-up failed and the command that fixes it, or what "
                "loading waits for (a gallery being fetched from GALLERY_URL)."},
    "gallery_version": {"type": "string", "description": "The served gallery version's stamp."},
    "gallery_rows": {"type": "integer"}, "gallery_identities": {"type": "integer"}, "scorer": {"type": "string"},
    "model": {"type": "string", "nullable": True,
              "description": "the learned model served (MATCH_MODEL), or null: cosine"},
    "embedding_model": {"type": "string", "description": "id of the served embedding model (GET /api/v1/model)"}}}
SCHEMAS = {"Face": FACE, "FaceUsed": FACE_USED, "Match": MATCH, "MatchAnswer": MATCH_ANSWER,
           "EmbeddingMatchAnswer": EMBEDDING_MATCH_ANSWER,
           "Model": MODEL, "VerifyAnswer": VERIFY_ANSWER, "CheckAnswer": CHECK_ANSWER, "Health": HEALTH, "Ready": READY}


def binary(description: str) -> dict:
    """A multipart file field."""
    return {"type": "string", "format": "binary", "description": description}


def base64(description: str) -> dict:
    """A JSON base64 image field (a data: URL is accepted too)."""
    return {"type": "string", "format": "byte", "description": description + " (base64; a data: URL is accepted)"}


def body(multipart: dict, json: dict, required: tuple[list, list]) -> dict:
    """A request body as multipart/form-data or JSON."""
    return {"required": True, "content": {
        "multipart/form-data": {"schema": {"type": "object", "required": required[0], "properties": multipart}},
        "application/json": {"schema": {"type": "object", **({"required": required[1]} if required[1] else {}),
                                        "properties": json}}}}


EMBEDDING_FIELDS = {
    "embedding": {"type": "array", "items": {"type": "number"}, "description": "Instead of image: the "
                  "L2-normalized embedding of the face (exactly the served dimension, finite, unit length "
                  "within 1e-3), computed as GET /api/v1/model says."},
    "embedding_model": {"type": "string", "description": "With embedding or embeddings: the id of the model they "
                        "were computed with (GET /api/v1/model); another id gets 409 model_mismatch."}}


def several(most: int) -> dict:
    """The JSON fields of several photos of one person matched together: base64 images, or their embeddings."""
    return {"images": {"type": "array", "minItems": 1, "maxItems": most, "items": base64("A photo"),
                       "description": f"Instead of image: 1 to {most} photos of one person, matched together."},
            "embeddings": {"type": "array", "minItems": 1, "maxItems": most,
                           "items": {"type": "array", "items": {"type": "number"}},
                           "description": f"Instead of embedding: 1 to {most} embeddings (one per photo of one "
                           "person, each checked as embedding is), matched together as several photos are."}}


def operations(app: Flask) -> dict[str, dict]:
    """Request bodies and 200 answers of the API's routes, with the limits of this app's config."""
    config = app.config
    top_k = {"type": "integer", "minimum": 1, "maximum": config["TOP_K_MAX"], "default": config["TOP_K"],
             "description": "Matches wanted (also accepted as a query parameter)."}
    filters = {"gender": {"type": "string", "enum": ["female", "male"], "description": "Only celebrities of this "
                          "gender."},
               "born_after": {"type": "integer", "description": "Only celebrities born after this year."},
               "born_before": {"type": "integer", "description": "Only celebrities born before this year."}}
    most = config["CHECK_MAX_ANCHORS"]
    mb = config["MAX_CONTENT_LENGTH"] / (1024 * 1024)
    limit = f" The whole request body may be at most {mb:g} MB."
    return {
        "api.match": {"tags": ["match"], "requestBody": body(
            {"photo": binary("The photo." + limit), "top_k": top_k, **filters},
            {"image": base64("The photo."), "top_k": top_k, **filters, **EMBEDDING_FIELDS,
             **several(config["MATCH_PHOTOS_MAX"])}, (["photo"], [])),
            "responses": {"200": {"description": "The face used and the top-k look-alikes (for an embedding: the "
                                  "look-alikes only).", "content": {"application/json": {"schema": {
                                      "oneOf": [ref("MatchAnswer"), ref("EmbeddingMatchAnswer")]}}}}}},
        "api.model": {"tags": ["match"], "responses": json_ok("Model", "The served embedding model.")},
        "api.verify": {"tags": ["verify"], "requestBody": body(
            {"photo1": binary("First photo." + limit), "photo2": binary("Second photo.")},
            {"image1": base64("First photo."), "image2": base64("Second photo.")},
            (["photo1", "photo2"], ["image1", "image2"])),
            "responses": json_ok("VerifyAnswer", "Same person or not, with the calibrated probability.")},
        "api.check": {"tags": ["verify"], "requestBody": body(
            {"photo": binary("The probe photo." + limit), "subject": {"type": "string", "description": "A gallery "
             "identity (name or folder); or send anchors."},
             "anchor": {"type": "array", "maxItems": most, "items": binary("An anchor photo."),
                        "description": f"1 to {most} photos of the person (repeat the field)."}},
            {"image": base64("The probe photo."), "subject": {"type": "string"},
             "anchors": {"type": "array", "maxItems": most, "items": base64("An anchor photo.")}},
            (["photo"], ["image"])),
            "responses": json_ok("CheckAnswer", "Whether the photo is that subject.")},
        "health.healthz": {"tags": ["health"], "responses": json_ok("Health", "The process is alive.")},
        "health.readyz": {"tags": ["health"], "responses": {
            **json_ok("Ready", "Weights and gallery loaded."),
            "503": {"description": "Still loading, or start-up failed (message says why).",
                    "content": {"application/json": {"schema": ref("Ready")}}}}},
    }

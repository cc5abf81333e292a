"""What a served learned model answers for demo gallery rows: run by test_trained_onnx.py in-process (Keras)
and in a subprocess where TensorFlow and Keras cannot be imported (ONNX Runtime)."""

from __future__ import annotations

import sys

import numpy as np

QUERY_ROWS = slice(0, None, 6)  # 15 of the demo gallery's 86 rows
KINDS = ("network", "encoder")  # LEARNED_SCORER


def answers(overrides: dict, photo: str | None = None) -> dict:
    """Per LEARNED_SCORER: the engine's scorer name, row scores, top-5 identities and scores, pair distances,
    and the gallery encodings it cached; or {"error": StartupError message}. With a photo, the match API too."""
    from app import create_app
    from app.pipeline.errors import StartupError
    from app.pipeline.scoring.scorers import Aggregation

    out: dict = {}
    for kind in KINDS:
        app = create_app({"TESTING": True, "EAGER_LOAD": False, "LEARNED_SCORER": kind, **overrides})
        engine = app.extensions["lookslike"]
        try:
            scorer = engine.scorer
        except StartupError as exc:
            return {"error": str(exc)}
        gallery = engine.gallery
        X = np.asarray(gallery.embeddings, np.float32)
        queries, others = X[QUERY_ROWS], X[::-1][QUERY_ROWS]
        ranked = [scorer.rank(q, gallery.labels, list(gallery.identities), 5, Aggregation()) for q in queries]
        out[kind] = {"scorer": scorer.name, "runtime": scorer.networks.runtime,
                     "row_scores": [scorer.row_scores(q).tolist() for q in queries],
                     "top5": [[m.identity for m in r] for r in ranked],
                     "top5_scores": [[m.score for m in r] for r in ranked],
                     "pair_distances": scorer.pair_distances(queries, others).tolist(),
                     "encoded": np.asarray(scorer.encoded).tolist()}
        if photo:
            with open(photo, "rb") as f:
                response = app.test_client().post("/api/v1/match", data={"photo": (f, "p.jpg")})
            body = response.get_json()
            out[kind]["api"] = [response.status_code, body.get("scorer"), body["matches"][0]["identity"]]
    out["loaded"] = sorted(name for name in ("tensorflow", "keras") if sys.modules.get(name) is not None)
    return out

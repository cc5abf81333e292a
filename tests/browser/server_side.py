"""The server's side of the parity checks, run with the app's interpreter (tests/browser/test_private.py).

Reads JSON {"gallery": name, "photos": [{"path", "embedding" (the browser's) or null}]} on stdin;
writes for each photo the server's main face box (working pixels) and the cosine between its
embedding and the browser's, and the top-1 celebrity of each: the photo matched by the server, and
the browser's embedding matched by the server.
"""

from __future__ import annotations

import json
import sys

import numpy as np

from app import create_app
from app.extensions import get_engine
from app.pipeline.errors import LooksLikeError


def main() -> None:
    request = json.load(sys.stdin)
    app = create_app({"TESTING": True, "EAGER_LOAD": True, "GALLERY": request["gallery"], "CLI_COMMANDS": False})
    out = []
    with app.app_context():
        engine = get_engine()
        model = engine.embedding_model()["id"]
        for item in request["photos"]:
            with open(item["path"], "rb") as f:
                data = f.read()
            try:
                result = engine.match(data, top_k=1)
            except LooksLikeError as exc:
                out.append({"path": item["path"], "error": exc.code})
                continue
            row = {"path": item["path"], "box": list(result.query.face.box), "top1": result.matches[0].identity}
            if item.get("embedding"):
                browser = np.asarray(item["embedding"], dtype=np.float64)
                row["cosine"] = float(np.dot(browser, result.query.embedding) / np.linalg.norm(browser))
                served = engine.match_embedding([item["embedding"]], ["embedding"], model, top_k=1)
                row["top1_browser"] = served.matches[0].identity
            out.append(row)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()

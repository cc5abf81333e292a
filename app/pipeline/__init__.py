"""The look-alike pipeline, one sub-package per job (docs/architecture.md):

- ``photos/``: a photo's faces: decode, detect, choose, crop, embed (serving and builds share it);
- ``networks/``: the networks' files and runtimes: weights, ONNX conversion, checksums, MTCNN on ONNX Runtime;
- ``scoring/``: comparing embeddings: cosine and learned scorers, resemblance, same-person verdicts;
- ``galleries/``: galleries on disk: versions, rows, the vector index, the quality loop;
- ``builders/``: gallery builds and upgrades, in this process, a pool of processes or Ray actors;
- ``serving/``: the engine a server holds, its results and JSON answers;
- ``errors.py`` (the error vocabulary) and ``deadline.py`` (a request's time budget), shared by all.

Knows nothing of Flask or click: the web pages, the JSON API and the CLI call into it through
:class:`app.pipeline.serving.engine.Engine` and :mod:`app.pipeline.serving.answers`.
"""

"""The look-alike pipeline: decode, detect, crop, embed, galleries, scoring, verification.

Knows nothing of Flask or click: the web pages, the JSON API and the CLI call into it through
:class:`app.pipeline.engine.Engine` and :mod:`app.pipeline.answers`.
"""

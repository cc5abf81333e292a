"""The pages' ES modules (static/js/): each module's URL and Subresource Integrity, the entry last.

Every module is preloaded (`<link rel="modulepreload" integrity>`) so that the browser fetches them
all at once instead of discovering the imports one level at a time, and the entry is loaded with
`<script type="module">`; the Content-Security-Policy's `script-src 'self'` allows both.
"""

from __future__ import annotations

import base64
import hashlib
import os

from flask import current_app, url_for

ENTRY = "main.js"
_INTEGRITY: dict[tuple, str] = {}  # (path, mtime, size) -> sha384 SRI


def integrity(path: str) -> str:
    """The SRI string (sha384) of a static file, computed again when the file changes."""
    st = os.stat(path)
    key = (path, st.st_mtime_ns, st.st_size)
    if key not in _INTEGRITY:
        with open(path, "rb") as f:
            _INTEGRITY[key] = "sha384-" + base64.b64encode(hashlib.sha384(f.read()).digest()).decode("ascii")
    return _INTEGRITY[key]


def module_scripts(modules: str) -> list[dict]:
    """The ES modules of folder `modules` under static/, entry last: URL and SRI of each."""
    folder = os.path.join(current_app.static_folder, modules)
    names = sorted(n for n in os.listdir(folder) if n.endswith(".js")) if os.path.isdir(folder) else []
    names = [n for n in names if n != ENTRY] + ([ENTRY] if ENTRY in names else [])
    return [{"url": url_for("static", filename=f"{modules}/{n}"), "integrity": integrity(os.path.join(folder, n))}
            for n in names]

"""app/datasets stands alone: stdlib and tqdm only (the IMDB-WIKI modules also numpy, scipy and
Pillow, to read its .mat and check its crops), no flask, no click, nothing else from app."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "app", "datasets")


IMDB_WIKI_EXTRAS = {"numpy", "scipy", "PIL"}


def test_imports_are_stdlib_tqdm_or_relative():
    for name in sorted(os.listdir(PACKAGE)):
        if not name.endswith(".py"):
            continue
        allowed = {"tqdm"} | (IMDB_WIKI_EXTRAS if name.startswith("imdb_wiki") else set())
        with open(os.path.join(PACKAGE, name), encoding="utf-8") as f:
            tree = ast.parse(f.read(), name)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                tops = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                tops = [node.module.split(".")[0]]
            else:
                continue
            for top in tops:
                assert top in sys.stdlib_module_names or top in allowed, f"{name} imports {top}"


def assert_imports_alone(statement: str, check: str = "True") -> None:
    """Run `statement` in a fresh interpreter: no flask, click, werkzeug or scipy may be loaded by it."""
    code = (f"import sys; {statement}; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('flask', 'click', 'werkzeug', 'scipy'));"
            f"assert not bad, bad; assert {check}; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], cwd=os.path.dirname(os.path.dirname(PACKAGE)),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_imports_without_flask_or_click():
    assert_imports_alone("import app.datasets as d", "d.LFW.folder == 'lfw'")


def test_imdb_wiki_modules_import_without_flask_click_or_scipy():
    assert_imports_alone("import app.datasets.imdb_wiki_fetch, app.datasets.imdb_wiki_identities")

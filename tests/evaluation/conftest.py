"""Fixtures of the evaluation tests: a small real LFW gallery, built once per session."""

from __future__ import annotations

import os
import shutil

import pytest

from conftest import SHARED, require_setup

LFW = os.path.join(SHARED, "lfw", "images")


@pytest.fixture(scope="session")
def lfw_small(tmp_path_factory):
    """A real gallery of 60 LFW identities with 3+ photos plus 40 single-photo distractors."""
    if not os.path.isdir(LFW):
        pytest.skip(f"needs ../shared/data/lfw: {LFW} is absent (only in dev checkouts and CI)")
    from app.pipeline.builders.chunked_build import build_gallery

    people = sorted(os.listdir(LFW))
    multi = [p for p in people if len(os.listdir(os.path.join(LFW, p))) >= 3][:60]
    single = [p for p in people if len(os.listdir(os.path.join(LFW, p))) == 1][:40]
    root = tmp_path_factory.mktemp("lfw")
    src = root / "src"
    for p in multi + single:
        os.makedirs(src / p)
        for f in sorted(os.listdir(os.path.join(LFW, p)))[:5]:
            shutil.copy(os.path.join(LFW, p, f), src / p / f)
    require_setup()
    from app import create_app

    app = create_app({"TESTING": True, "GALLERY": "demo"})
    engine = app.extensions["lookslike"]
    build_gallery(str(src), str(root / "galleries"), "lfwsmall", engine.detector, engine.embedder,
                  app.config, progress=False)
    return root


@pytest.fixture()
def lfw_app(make_app, lfw_small):
    """An app whose galleries and models live beside the small LFW gallery."""
    return make_app(GALLERY="lfwsmall", GALLERIES_DIR=str(lfw_small / "galleries"),
                    MODELS_DIR=str(lfw_small / "models"))

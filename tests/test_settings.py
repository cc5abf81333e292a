"""Settings resolve in one order everywhere (app/settings.py): overrides > LOOKSLIKE_* > instance/config.py > defaults.

gunicorn's side is checked against a real server in tests/http/test_instance_settings.py.
"""

from __future__ import annotations

import copy
import glob
import logging
import os
import re
import runpy

import pytest
from flask import Config

from app import create_app
from app.config import DEFAULTS, NOT_SETTINGS
from app.instance_paths import galleries_dir
from app.settings import current, known_keys, resolve, serve_defaults
from conftest import ROOT


def instance(tmp_path, text: str) -> str:
    """An instance folder whose config.py holds `text`."""
    folder = tmp_path / "instance"
    folder.mkdir(exist_ok=True)
    (folder / "config.py").write_text(text)
    return str(folder)


def test_defaults_when_nothing_is_set(tmp_path):
    resolved = resolve(environ={}, instance_path=str(tmp_path))
    assert {k: v for k, v in resolved.values.items() if k != "INSTANCE_PATH"} == {
        k: v for k, v in DEFAULTS.items() if k != "INSTANCE_PATH"}
    assert resolved.values["INSTANCE_PATH"] == str(tmp_path) and resolved.report == []


def test_each_layer_wins_over_the_one_below(tmp_path):
    folder = instance(tmp_path, "TOP_K = 3\nTOP_K_MAX = 13\nRUNTIME = 'onnx'\n")
    env = {"LOOKSLIKE_TOP_K_MAX": "14", "LOOKSLIKE_RUNTIME": "tf"}
    values = resolve({"RUNTIME": "auto"}, environ=env, instance_path=folder).values
    assert values["TOP_K"] == 3  # instance/config.py over the default
    assert values["TOP_K_MAX"] == 14  # the environment over instance/config.py
    assert values["RUNTIME"] == "auto"  # the overrides over the environment
    assert values["EMBED_BATCH_SIZE"] == DEFAULTS["EMBED_BATCH_SIZE"]  # set nowhere: the default


def test_the_app_resolves_the_same_way(tmp_path, monkeypatch):
    folder = instance(tmp_path, "TOP_K = 3\nMAX_CONTENT_LENGTH = 1000\nQUEUE_TIMEOUT = 50\n")
    monkeypatch.setenv("LOOKSLIKE_INSTANCE_PATH", folder)
    monkeypatch.setenv("LOOKSLIKE_QUEUE_TIMEOUT", "60")
    app = create_app({"TOP_K_MAX": 9})
    assert app.instance_path == folder and galleries_dir(app) == os.path.join(folder, "galleries")
    assert (app.config["TOP_K"], app.config["MAX_CONTENT_LENGTH"], app.config["QUEUE_TIMEOUT"],
            app.config["TOP_K_MAX"]) == (3, 1000, 60, 9)
    assert current() is app.config  # what gunicorn's worker and access log read in this process
    monkeypatch.setenv("LOOKSLIKE_TOP_K", "4")
    assert current()["TOP_K"] == 3  # resolved once per process, not again per request


def test_instance_path_comes_from_the_overrides_or_the_environment(tmp_path, monkeypatch):
    folder = instance(tmp_path, "TOP_K = 2\n")
    assert create_app({"INSTANCE_PATH": folder}).config["TOP_K"] == 2
    monkeypatch.setenv("LOOKSLIKE_INSTANCE_PATH", folder)
    assert resolve().instance_path == folder and resolve().values["TOP_K"] == 2
    assert resolve({"INSTANCE_PATH": str(tmp_path)}).values["TOP_K"] == DEFAULTS["TOP_K"]
    monkeypatch.delenv("LOOKSLIKE_INSTANCE_PATH")
    assert resolve(environ={}).instance_path == os.path.join(ROOT, "instance")


@pytest.mark.parametrize("env", [
    {"LOOKSLIKE_TOP_K": "3", "LOOKSLIKE_EMBED_FLIP": "true", "LOOKSLIKE_GALLERY": "celebs",
     "LOOKSLIKE_CORS_ORIGINS": "https://a.example,https://b.example", "LOOKSLIKE_API_KEY_PATHS": '["/api/", "/x"]',
     "LOOKSLIKE_CROP_MARGIN": "0.2", "LOOKSLIKE_PUBLIC_URL": "", "LOOKSLIKE_METRICS_TOKEN": "null"},
    {"LOOKSLIKE_VERIFY_CALIBRATION__threshold": "1.1", "LOOKSLIKE_NEW__deep__item": "{\"a\": 1}"},
])
def test_environment_is_parsed_as_flask_parses_it(env, monkeypatch):
    for name in [n for n in os.environ if n.startswith("LOOKSLIKE_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    flask = Config("/nowhere", copy.deepcopy(DEFAULTS))
    flask.from_prefixed_env("LOOKSLIKE")
    values = resolve(environ=env, instance_path="/nowhere").values
    assert values.pop("INSTANCE_PATH") == "/nowhere"
    assert values == {k: v for k, v in flask.items() if k != "INSTANCE_PATH"}
    assert DEFAULTS["VERIFY_CALIBRATION"]["threshold"] == 1.0742  # an item set by the environment stays out


def test_instance_file_is_read_as_flask_reads_it(tmp_path):
    folder = instance(tmp_path, "import os\nTOP_K = 3\nlowercase = 1\nGALLERY = os.sep and 'x'\n")
    flask = Config(folder)
    flask.from_pyfile("config.py")
    values = resolve(environ={}, instance_path=folder).values
    assert {k: values[k] for k in flask} == dict(flask) == {"TOP_K": 3, "GALLERY": "x"}
    assert "lowercase" not in values and "os" not in values


def test_serving_default_cpu_slots_yields_to_a_configured_one(tmp_path, monkeypatch):
    """gunicorn.conf.py derives CPU_SLOTS from the CPUs as a default: instance/config.py and the environment win."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "prom"))
    monkeypatch.setenv("WEB_CONCURRENCY", "1")
    monkeypatch.delenv("LOOKSLIKE_CPU_SLOTS", raising=False)
    try:
        runpy.run_path(os.path.join(ROOT, "gunicorn.conf.py"))
        assert "LOOKSLIKE_CPU_SLOTS" not in os.environ
        cpus = len(os.sched_getaffinity(0))
        assert resolve(environ={}, instance_path=str(tmp_path)).values["CPU_SLOTS"] == cpus
        folder = instance(tmp_path, f"CPU_SLOTS = {cpus + 5}\n")
        assert resolve(environ={}, instance_path=folder).values["CPU_SLOTS"] == cpus + 5
        env = {"LOOKSLIKE_CPU_SLOTS": str(cpus + 6)}
        assert resolve(environ=env, instance_path=folder).values["CPU_SLOTS"] == cpus + 6
    finally:
        serve_defaults()
    assert resolve(environ={}, instance_path=str(tmp_path)).values["CPU_SLOTS"] == DEFAULTS["CPU_SLOTS"]


def test_unknown_names_are_reported_with_the_nearest_setting(tmp_path):
    folder = instance(tmp_path, "MAX_CONTENT_LENGHT = 5\nSECRET_KEY = 'x'\nRATELIMIT_ENABLED = False\n"
                                "CORS_SUPPORTS_CREDENTIALS = False\nWHATEVER_ELSE = 1\n")
    env = {"LOOKSLIKE_TOPK": "3", "LOOKSLIKE_TOP_K": "3", "LOOKSLIKE_APP_PYTHON": "/usr/bin/python3",
           "LOOKSLIKE_VERIFY_CALIBRATION__a": "1", "OTHER_TOPK": "1"}
    report = resolve(environ=env, instance_path=folder).report
    assert len(report) == 3, report
    assert "MAX_CONTENT_LENGHT" in report[0] and "did you mean MAX_CONTENT_LENGTH?" in report[0]
    assert "WHATEVER_ELSE" in report[1] and "did you mean" not in report[1]
    assert "LOOKSLIKE_TOPK" in report[2] and "did you mean LOOKSLIKE_TOP_K?" in report[2]


def test_tooling_variables_are_no_settings(tmp_path):
    values = resolve(environ={"LOOKSLIKE_TEST_SERVER": "http://127.0.0.1:1"}, instance_path=str(tmp_path)).values
    assert "TEST_SERVER" not in values


def test_instance_path_in_the_instance_file_is_reported(tmp_path):
    folder = instance(tmp_path, "INSTANCE_PATH = '/elsewhere'\n")
    resolved = resolve(environ={}, instance_path=folder)
    assert resolved.instance_path == folder and resolved.values["INSTANCE_PATH"] == folder
    assert "LOOKSLIKE_INSTANCE_PATH" in resolved.report[0]


def test_the_app_logs_unknown_names(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("LOOKSLIKE_INSTANCE_PATH", instance(tmp_path, "MAX_CONTENT_LENGHT = 5\n"))
    with caplog.at_level(logging.WARNING):
        create_app()
    assert any("did you mean MAX_CONTENT_LENGTH?" in r.getMessage() and r.levelno == logging.WARNING
               for r in caplog.records)


def test_every_lookslike_variable_the_project_names_is_a_setting():
    """Makefile, docker files, docs, tests, bench and scripts name only settings or the allowed tooling variables."""
    files = [os.path.join(ROOT, name) for name in ("Makefile", "Dockerfile", "docker-compose.yml", "README.md")]
    for pattern in ("docs/**/*.md", "deploy/**/*", "tests/**/*.py", "bench/**/*.py", "scripts/**/*"):
        files += glob.glob(os.path.join(ROOT, pattern), recursive=True)
    known, found = known_keys(), {}
    for path in files:
        if os.path.isfile(path) and not path.endswith("test_settings.py"):
            for name in re.findall(r"\bLOOKSLIKE_([A-Z][A-Z0-9_]*[A-Z0-9])", open(path, errors="replace").read()):
                if f"LOOKSLIKE_{name}" not in NOT_SETTINGS and name.split("__")[0] not in known:
                    found.setdefault(name, os.path.relpath(path, ROOT))
    assert not found

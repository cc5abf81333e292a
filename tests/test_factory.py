"""The app factory's configuration and start-up checks, and the operator CLI."""

from __future__ import annotations

import json

import pytest

from app import create_app
from app.pipeline.errors import StartupError
from conftest import val_photos


def test_overrides_win_over_defaults(tmp_path):
    app = create_app({"TESTING": True, "TOP_K": 3, "GALLERIES_DIR": str(tmp_path)})
    assert app.testing and app.config["TOP_K"] == 3 and app.config["MAX_CONTENT_LENGTH"] > 0
    assert app.extensions["lookslike"].paths.galleries == str(tmp_path)
    assert not app.extensions["lookslike"].ready()  # EAGER_LOAD is off unless asked for (wsgi.py)


def test_environment_overrides_defaults(monkeypatch):
    monkeypatch.setenv("LOOKSLIKE_TOP_K", "7")
    app = create_app({"EAGER_LOAD": False})
    assert app.config["TOP_K"] == 7


def test_missing_gallery_stops_start_up_with_a_message(tmp_path):
    with pytest.raises(StartupError, match=r"Gallery 'nowhere' not found.*flask gallery build"):
        create_app({"EAGER_LOAD": True, "GALLERY": "nowhere", "GALLERIES_DIR": str(tmp_path)})


def test_missing_weights_stop_start_up_with_a_message(tmp_path):
    app = create_app({"EAGER_LOAD": False, "WEIGHTS_PATH": str(tmp_path / "none.h5")})
    with pytest.raises(StartupError, match="flask weights fetch"):
        _ = app.extensions["lookslike"].embedder


def test_cli_match_json_equals_api(runner, client):
    identity, path = val_photos()[16]
    result = runner.invoke(args=["match", path, "--top", "3", "--json"])
    assert result.exit_code == 0, result.output
    cli = json.loads(result.output)
    with open(path, "rb") as f:
        api = client.post("/api/v1/match", json={"image": __import__("base64").b64encode(f.read()).decode(),
                                                 "top_k": 3}).get_json()
    strip = lambda body: [(m["name"], m["score"], m["image_url"].rsplit("/", 2)[-2:]) for m in body["matches"]]
    assert strip(cli) == strip(api) and cli["face"] == api["face"]
    assert cli["matches"][0]["identity"] == identity


def test_cli_match_text_and_errors(runner, tmp_path):
    result = runner.invoke(args=["match", val_photos()[5][1]])
    assert result.exit_code == 0 and " 1. Elton John" in result.output
    bad = tmp_path / "x.jpg"
    bad.write_text("nope")
    result = runner.invoke(args=["match", str(bad)])
    assert result.exit_code == 1 and "unsupported_media" in result.output


def test_cli_gallery_info(runner):
    result = runner.invoke(args=["gallery", "info", "demo"])
    assert result.exit_code == 0 and "5 identities" in result.output and "Mindy Kaling" in result.output


def test_weights_fetch_is_idempotent_and_checks_sha(runner, tmp_path):
    result = runner.invoke(args=["weights", "fetch"])
    assert result.exit_code == 0 and "already installed" in result.output
    fake = tmp_path / "facenet_keras.h5"
    fake.write_bytes(b"not the weights")
    result = runner.invoke(args=["weights", "fetch", "--from", str(fake), "--force"])
    assert result.exit_code == 1 and "expected 6acdd8fb" in result.output

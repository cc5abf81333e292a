"""Optional API keys: `flask keys`, 401 in the usual error shape, open probes and pages."""

from __future__ import annotations

import json
import logging

import pytest


@pytest.fixture()
def keyed(make_app, tmp_path):
    """An app with its own keys file, its client and its CLI runner."""
    app = make_app(API_KEYS_FILE=str(tmp_path / "api_keys.json"))
    return app, app.test_client(), app.test_cli_runner()


def create_key(runner, name: str) -> str:
    """`flask keys create NAME`: the key is the only line on stdout."""
    result = runner.invoke(args=["keys", "create", name])
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def test_api_is_open_while_no_key_exists(keyed):
    _, client, _ = keyed
    assert client.post("/api/v1/match", json={"image": "!!"}).status_code == 400


def test_keys_create_list_revoke(keyed, tmp_path):
    app, client, runner = keyed
    key = create_key(runner, "partner-a")
    other = create_key(runner, "partner-b")
    assert key.startswith("ll_") and len(key) > 40 and other != key
    stored = (tmp_path / "api_keys.json").read_text()
    assert key not in stored and "partner-a" in stored  # only the hash is kept
    assert oct((tmp_path / "api_keys.json").stat().st_mode)[-3:] == "600"
    listed = runner.invoke(args=["keys", "list"])
    assert listed.exit_code == 0 and "partner-a" in listed.output and key not in listed.output
    assert runner.invoke(args=["keys", "create", "partner-a"]).exit_code == 1  # names are unique
    assert runner.invoke(args=["keys", "create", "bad name!"]).exit_code == 1
    assert client.post("/api/v1/match", json={"image": "!!"}, headers={"X-API-Key": key}).status_code == 400
    assert runner.invoke(args=["keys", "revoke", "partner-a"]).exit_code == 0
    resp = client.post("/api/v1/match", json={"image": "!!"}, headers={"X-API-Key": key})
    assert resp.status_code == 401 and resp.get_json()["error"] == "unauthorized"
    assert runner.invoke(args=["keys", "revoke", "partner-a"]).exit_code == 1
    last = runner.invoke(args=["keys", "revoke", "partner-b"])
    assert last.exit_code == 0 and "open to everyone again" in last.stderr


def test_a_key_is_required_once_one_exists(keyed):
    _, client, runner = keyed
    key = create_key(runner, "site")
    for headers in ({}, {"X-API-Key": "ll_wrong"}, {"Authorization": "Bearer ll_wrong"},
                    {"Authorization": f"Basic {key}"}):
        resp = client.post("/api/v1/verify", json={"image1": "!!", "image2": "!!"}, headers=headers)
        body = resp.get_json()
        assert resp.status_code == 401 and set(body) == {"error", "message"} and body["error"] == "unauthorized"
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    for headers in ({"X-API-Key": key}, {"Authorization": f"Bearer {key}"}):
        assert client.post("/api/v1/match", json={"image": "!!"}, headers=headers).status_code == 400


def test_probes_pages_and_spec_stay_open(keyed):
    _, client, runner = keyed
    create_key(runner, "site")
    for path in ("/healthz", "/readyz", "/", "/verify", "/api", "/api/v1/openapi.json"):
        assert client.get(path).status_code == 200, path
    assert client.post("/match", data={}, content_type="multipart/form-data").status_code == 400  # not 401


def test_preflight_needs_no_key(make_app, tmp_path):
    app = make_app(API_KEYS_FILE=str(tmp_path / "k.json"), CORS_ORIGINS=["https://a.example"])
    create_key(app.test_cli_runner(), "site")
    resp = app.test_client().options("/api/v1/match", headers={
        "Origin": "https://a.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "X-API-Key"})
    assert resp.status_code == 200 and resp.headers["Access-Control-Allow-Origin"] == "https://a.example"


def test_require_api_key_without_keys(make_app, tmp_path):
    client = make_app(API_KEYS_FILE=str(tmp_path / "none.json"), REQUIRE_API_KEY=True).test_client()
    assert client.post("/api/v1/match", json={"image": "!!"}).status_code == 401
    assert client.get("/healthz").status_code == 200


def test_configured_paths_can_close_pages_too(make_app, tmp_path):
    client = make_app(API_KEYS_FILE=str(tmp_path / "none.json"), REQUIRE_API_KEY=True,
                      API_KEY_PATHS=["/api/v1/", "/match", "/healthz"]).test_client()
    assert client.get("/healthz").status_code == 401
    assert client.get("/readyz").status_code == 200


def test_keys_are_never_logged(keyed, caplog):
    _, client, runner = keyed
    key = create_key(runner, "site")
    caplog.set_level(logging.DEBUG)
    client.post("/api/v1/match", json={"image": "!!"}, headers={"X-API-Key": key})
    client.post("/api/v1/match", json={"image": "!!"}, headers={"X-API-Key": key + "x"})
    assert key not in caplog.text


def test_corrupt_keys_file_fails_closed(make_app, tmp_path):
    path = tmp_path / "api_keys.json"
    path.write_text("{not json")
    client = make_app(API_KEYS_FILE=str(path)).test_client()
    assert client.post("/api/v1/match", json={"image": "!!"}, headers={"X-API-Key": "anything"}).status_code == 401
    path.write_text(json.dumps({"keys": {}}))
    assert client.post("/api/v1/match", json={"image": "!!"}).status_code == 400


def test_fleet_keys_come_from_the_api_keys_secret(make_app, tmp_path):
    """Keys given as hashes in API_KEYS (a secret in the environment) work on every instance alike."""
    from app.http.auth import hash_key
    from app.pipeline.errors import StartupError

    runner = make_app(API_KEYS_FILE=str(tmp_path / "none.json")).test_cli_runner()
    made = runner.invoke(args=["keys", "create", "fleet", "--secret"])
    assert made.exit_code == 0, made.output
    key = made.stdout.strip().splitlines()[0]
    entries = json.loads(made.stderr.split("LOOKSLIKE_API_KEYS='", 1)[1].split("'", 1)[0])
    assert entries == {"fleet": hash_key(key)} and not (tmp_path / "none.json").exists()  # nothing stored
    for instance in ("a", "b"):  # two servers with the same secret, no keys file
        app = make_app(API_KEYS=entries, API_KEYS_FILE=str(tmp_path / f"{instance}.json"))
        client = app.test_client()
        assert client.get("/api/v1/openapi.json").status_code == 200
        assert client.post("/api/v1/match", data={}).status_code == 401
        answered = client.post("/api/v1/match", data={}, headers={"X-API-Key": key})
        assert answered.status_code == 400  # past the key check: the photo is missing
        refused = app.test_cli_runner().invoke(args=["keys", "revoke", "fleet"])
        assert refused.exit_code == 1 and "API_KEYS setting" in refused.output
    with pytest.raises(StartupError, match="API_KEYS entry 'fleet'"):
        make_app(API_KEYS={"fleet": key})  # the key itself instead of its hash

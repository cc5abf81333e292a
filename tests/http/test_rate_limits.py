"""Rate limits: per API key, else per client address; 429 JSON with Retry-After; forwarded headers."""

from __future__ import annotations

import pytest


def post(client, **kwargs):
    """A cheap API call (bad base64: answered before any network runs)."""
    return client.post("/api/v1/match", json={"image": "!!"}, **kwargs)


def test_off_by_default(client):
    assert all(post(client).status_code == 400 for _ in range(5))


def test_past_the_limit_is_429_json_with_retry_after(make_app):
    client = make_app(RATE_LIMIT="2/minute").test_client()
    assert [post(client).status_code for _ in range(2)] == [400, 400]
    resp = post(client)
    body = resp.get_json()
    assert resp.status_code == 429 and body["error"] == "rate_limited" and "2 per 1 minute" in body["message"]
    assert 0 < int(resp.headers["Retry-After"]) <= 60
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


def test_pages_get_their_own_429_page(make_app):
    client = make_app(RATE_LIMIT="1/minute").test_client()
    client.post("/match", data={}, content_type="multipart/form-data")
    resp = client.post("/match", data={}, content_type="multipart/form-data")
    assert resp.status_code == 429 and "Too many requests" in resp.get_data(as_text=True)
    assert resp.mimetype == "text/html"


def test_gets_and_probes_are_not_counted(make_app):
    client = make_app(RATE_LIMIT="1/minute").test_client()
    for _ in range(3):
        assert client.get("/healthz").status_code == 200 and client.get("/").status_code == 200
    assert post(client).status_code == 400


def test_each_api_key_has_its_own_budget(make_app, tmp_path):
    app = make_app(RATE_LIMIT="1/minute", API_KEYS_FILE=str(tmp_path / "k.json"))
    runner, client = app.test_cli_runner(), app.test_client()
    a = runner.invoke(args=["keys", "create", "a"]).stdout.strip()
    b = runner.invoke(args=["keys", "create", "b"]).stdout.strip()
    assert post(client, headers={"X-API-Key": a}).status_code == 400
    assert post(client, headers={"X-API-Key": a}).status_code == 429
    assert post(client, headers={"Authorization": f"Bearer {b}"}).status_code == 400


@pytest.mark.parametrize("trusted, separate", [(0, False), (1, True)])
def test_forwarded_for_counts_only_behind_trusted_proxies(make_app, trusted, separate):
    client = make_app(RATE_LIMIT="1/minute", TRUSTED_PROXIES=trusted).test_client()
    assert post(client, headers={"X-Forwarded-For": "198.51.100.1"}).status_code == 400
    second = post(client, headers={"X-Forwarded-For": "198.51.100.2"}).status_code
    assert second == (400 if separate else 429)


def test_breaches_do_not_log_client_addresses(make_app, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    client = make_app(RATE_LIMIT="1/minute", TRUSTED_PROXIES=1).test_client()
    for _ in range(2):
        post(client, headers={"X-Forwarded-For": "198.51.100.7"})
    assert "198.51.100.7" not in caplog.text


@pytest.fixture()
def redis_uri(tmp_path):
    """A throwaway redis-server on 127.0.0.1 (skipped where none is installed)."""
    import shutil
    import socket
    import subprocess
    import time

    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server to run this check)")
    port = next((p for p in range(8401, 8410) if socket.socket().connect_ex(("127.0.0.1", p)) != 0), None)
    if port is None:
        pytest.skip("no free port in 8401-8409")
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)
    try:
        for _ in range(50):
            if socket.socket().connect_ex(("127.0.0.1", port)) == 0:
                break
            time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_workers_share_counters_through_redis(make_app, redis_uri):
    """Two apps (as two gunicorn workers would be) count against one budget in Redis."""
    first, second = (make_app(RATE_LIMIT="2/minute", RATE_LIMIT_STORAGE_URI=redis_uri).test_client()
                     for _ in range(2))
    assert post(first).status_code == 400 and post(second).status_code == 400
    assert post(first).status_code == 429 and post(second).status_code == 429

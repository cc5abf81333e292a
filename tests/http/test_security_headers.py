"""Security headers, the CORS allowlist, trusted proxies and public URLs."""

from __future__ import annotations

import io

import pytest

from conftest import read, val_photos

PREFLIGHT = {"Origin": "https://a.example", "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "X-API-Key, Content-Type"}


@pytest.mark.parametrize("path", ["/", "/verify", "/api", "/healthz", "/api/v1/openapi.json"])
def test_every_answer_has_the_security_headers(client, path):
    resp = client.get(path)
    assert resp.status_code == 200
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src", 1)[1].split(";")[0]
    assert "img-src 'self' data: blob:" in csp and "media-src 'self' blob: mediastream:" in csp
    assert "frame-ancestors 'none'" in csp
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "same-origin"
    assert "camera=(self)" in resp.headers["Permissions-Policy"]


def test_pages_have_no_inline_scripts(client):
    for path in ("/", "/verify", "/api"):
        html = client.get(path).get_data(as_text=True)
        for tag in html.split("<script")[1:]:
            assert 'src="/static/' in tag.split(">", 1)[0], f"inline script on {path}"


def test_errors_have_the_security_headers_too(client):
    resp = client.post("/api/v1/match", json={"image": "!!"})
    assert resp.status_code == 400 and resp.headers["X-Content-Type-Options"] == "nosniff"


def test_no_cors_by_default(client):
    resp = client.options("/api/v1/match", headers=PREFLIGHT)
    assert "Access-Control-Allow-Origin" not in resp.headers
    resp = client.post("/api/v1/match", json={"image": "!!"}, headers={"Origin": "https://a.example"})
    assert "Access-Control-Allow-Origin" not in resp.headers


def test_allowlisted_origin_gets_a_working_preflight(make_app):
    client = make_app(CORS_ORIGINS="https://a.example, https://b.example").test_client()
    resp = client.options("/api/v1/match", headers=PREFLIGHT)
    assert resp.status_code == 200
    assert resp.headers["Access-Control-Allow-Origin"] == "https://a.example"
    assert "POST" in resp.headers["Access-Control-Allow-Methods"]
    allowed = resp.headers["Access-Control-Allow-Headers"].lower()
    assert "x-api-key" in allowed and "content-type" in allowed
    assert int(resp.headers["Access-Control-Max-Age"]) > 0
    resp = client.post("/api/v1/match", json={"image": "!!"}, headers={"Origin": "https://b.example"})
    assert resp.headers["Access-Control-Allow-Origin"] == "https://b.example"
    assert "Retry-After" in resp.headers["Access-Control-Expose-Headers"]
    assert "Access-Control-Allow-Credentials" not in resp.headers


def test_other_origins_are_not_allowed(make_app):
    client = make_app(CORS_ORIGINS=["https://a.example"]).test_client()
    resp = client.options("/api/v1/match", headers={**PREFLIGHT, "Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in resp.headers
    page = client.get("/", headers={"Origin": "https://a.example"})
    assert "Access-Control-Allow-Origin" not in page.headers  # CORS is for the JSON API only


def test_star_only_when_set_explicitly(make_app, monkeypatch):
    monkeypatch.setenv("LOOKSLIKE_CORS_ORIGINS", "*")
    client = make_app().test_client()
    resp = client.options("/api/v1/verify", headers={**PREFLIGHT, "Origin": "https://any.example"})
    assert resp.headers["Access-Control-Allow-Origin"] == "*"


def test_origins_from_the_environment(make_app, monkeypatch):
    monkeypatch.setenv("LOOKSLIKE_CORS_ORIGINS", "https://a.example,https://b.example")
    client = make_app().test_client()
    for origin in ("https://a.example", "https://b.example"):
        resp = client.options("/api/v1/check", headers={**PREFLIGHT, "Origin": origin})
        assert resp.headers["Access-Control-Allow-Origin"] == origin


def test_form_post_from_any_site_still_works_with_cors_on(make_app):
    client = make_app(CORS_ORIGINS=["https://a.example"]).test_client()
    _, path = val_photos()[0]
    resp = client.post("/match", data={"photo": (io.BytesIO(read(path)), "x.jpg")},
                       headers={"Origin": "https://elsewhere.example"}, content_type="multipart/form-data")
    assert resp.status_code == 200 and 'class="match-card"' in resp.get_data(as_text=True)


def image_url(client, **kwargs) -> str:
    """image_url of the first match of a real photo."""
    _, path = val_photos()[0]
    resp = client.post("/api/v1/match", data={"photo": (io.BytesIO(read(path)), "x.jpg")},
                       content_type="multipart/form-data", **kwargs)
    return resp.get_json()["matches"][0]["image_url"]


def test_image_url_never_trusts_the_host_header(client):
    url = image_url(client, headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"})
    assert url.startswith("/gallery/demo/") and "evil" not in url


def test_public_url_makes_absolute_links(make_app):
    client = make_app(PUBLIC_URL="https://lookslike.example/").test_client()
    url = image_url(client, headers={"Host": "evil.example"})
    assert url.startswith("https://lookslike.example/gallery/demo/")


def test_trusted_proxy_headers(make_app):
    client = make_app(TRUSTED_PROXIES=1).test_client()
    url = image_url(client, headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "lookslike.example"})
    assert url.startswith("https://lookslike.example/gallery/demo/")

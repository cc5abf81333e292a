"""The OpenAPI 3 document (valid, generated from the routes) and the /api page rendered from it."""

from __future__ import annotations

import base64
import re

from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate

from app.http.error_responses import STATUS
from conftest import read, val_photos


def spec_of(client) -> dict:
    """The served OpenAPI document."""
    resp = client.get("/api/v1/openapi.json")
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    return resp.get_json()


def test_the_document_is_valid_openapi_3(client):
    spec = spec_of(client)
    validate(spec)
    assert spec["openapi"].startswith("3.")


def test_it_covers_match_verify_check_health_errors_and_auth(client):
    spec = spec_of(client)
    assert {"/api/v1/match", "/api/v1/verify", "/api/v1/check", "/healthz", "/readyz"} <= set(spec["paths"])
    for path in ("/api/v1/match", "/api/v1/verify", "/api/v1/check"):
        op = spec["paths"][path]["post"]
        assert op["security"] == [{"ApiKey": []}, {"Bearer": []}]
        assert {"200", "400", "401", "413", "415", "422", "429"} <= set(op["responses"])
        assert {"multipart/form-data", "application/json"} == set(op["requestBody"]["content"])
    assert spec["components"]["securitySchemes"]["ApiKey"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert spec["components"]["schemas"]["Error"]["properties"]["error"]["enum"] == sorted(STATUS)
    assert "security" not in spec["paths"]["/healthz"]["get"]


def test_it_follows_the_code_and_the_config(make_app):
    spec = spec_of(make_app(TOP_K_MAX=7, PUBLIC_URL="https://lookslike.example").test_client())
    top_k = spec["paths"]["/api/v1/match"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert top_k["properties"]["top_k"]["maximum"] == 7
    assert spec["servers"] == [{"url": "https://lookslike.example"}]
    assert spec["paths"]["/api/v1/match"]["post"]["summary"] == "Who does this person look like?"


def test_real_answers_match_their_schemas(client):
    spec = spec_of(client)
    _, path = val_photos()[4]
    photo = base64.b64encode(read(path)).decode()
    checks = [("/api/v1/match", {"image": photo}, "MatchAnswer"),
              ("/api/v1/verify", {"image1": photo, "image2": photo}, "VerifyAnswer"),
              ("/api/v1/match", {"image": "!!"}, "Error")]
    for url, body, schema in checks:
        answer = client.post(url, json=body).get_json()
        OAS30Validator({"$ref": f"#/components/schemas/{schema}", "components": spec["components"]}).validate(answer)


def test_api_page_is_rendered_from_the_spec_without_scripts_or_cdn(client):
    resp = client.get("/api")
    html = resp.get_data(as_text=True)
    scripts = re.findall(r"<script[^>]*>", html)
    assert resp.status_code == 200 and all('src="/static/' in tag for tag in scripts)  # no inline script
    assert not re.search(r'(src|href)="https?://', html)
    for text in ("POST /api/v1/match", "POST /api/v1/verify", "POST /api/v1/check", "GET /readyz",
                 "X-API-Key", "unauthorized", "rate_limited", "MatchAnswer", "/api/v1/openapi.json"):
        assert text in html, text

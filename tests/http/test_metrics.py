"""/metrics: Prometheus text with requests by route and status, match stages, gallery size."""

from __future__ import annotations

import io

from prometheus_client.parser import text_string_to_metric_families

from conftest import read, val_photos


def samples(client, **headers) -> dict:
    """(name, labels) -> value of every sample /metrics reports."""
    resp = client.get("/metrics", headers=headers)
    assert resp.status_code == 200 and resp.mimetype == "text/plain"
    out = {}
    for family in text_string_to_metric_families(resp.get_data(as_text=True)):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(found: dict, name: str, **labels) -> float:
    """One sample's value (0 when absent)."""
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def test_requests_stages_and_gallery(client):
    before = samples(client)
    _, path = val_photos()[2]
    client.post("/api/v1/match", data={"photo": (io.BytesIO(read(path)), "x.jpg")}, content_type="multipart/form-data")
    client.post("/api/v1/match", json={"image": "!!"})
    after = samples(client)
    route = {"route": "/api/v1/match", "method": "POST"}
    for status in ("200", "400"):
        delta = value(after, "lookslike_http_requests_total", **route, status=status) - \
            value(before, "lookslike_http_requests_total", **route, status=status)
        assert delta == 1, status
    for stage in ("decode", "detect", "embed", "score"):
        assert value(after, "lookslike_match_stage_seconds_count", stage=stage) >= 1 + \
            value(before, "lookslike_match_stage_seconds_count", stage=stage)
    assert value(after, "lookslike_http_request_duration_seconds_count", route="/api/v1/match") >= 2
    assert value(after, "lookslike_gallery_rows", gallery="demo") > 80
    assert value(after, "lookslike_gallery_identities", gallery="demo") == 5
    assert value(after, "lookslike_ready") == 1


def test_rejections_are_counted(make_app):
    client = make_app(RATE_LIMIT="1/minute").test_client()
    before = value(samples(client), "lookslike_http_rejected_total", status="429")
    client.post("/api/v1/match", json={"image": "!!"})
    client.post("/api/v1/match", json={"image": "!!"})
    assert value(samples(client), "lookslike_http_rejected_total", status="429") == before + 1


def test_unknown_paths_share_one_route_label(client):
    for i in range(3):
        client.get(f"/no/such/page/{i}")
    found = samples(client)
    assert value(found, "lookslike_http_requests_total", route="<unmatched>", method="GET", status="404") >= 3
    assert not any("/no/such" in str(key) for key in found)


def test_metrics_token(make_app):
    client = make_app(METRICS_TOKEN="s3cret").test_client()
    resp = client.get("/metrics")
    assert resp.status_code == 401 and resp.get_json()["error"] == "unauthorized"
    assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert samples(client, Authorization="Bearer s3cret")


def test_metrics_can_be_switched_off(make_app):
    assert make_app(METRICS_ENABLED=False).test_client().get("/metrics").status_code == 404

"""Private mode's assets: content-named, cached for good, checked; the page says why when they are missing."""

from __future__ import annotations

import gzip
import hashlib
import html as html_lib
import json
import os
import re
import shutil

import pytest

from conftest import ROOT

WEIGHTS = os.path.join(ROOT, "instance", "weights")
RUNTIME = os.path.join(ROOT, "build", "npm", "node_modules", "onnxruntime-web", "dist")


def manifest_of(html: str) -> dict:
    """The private-mode manifest rendered into a page."""
    found = re.search(r'<meta name="lookslike-private-mode" content="([^"]*)">', html)
    assert found, "no private-mode manifest in the page"
    return json.loads(html_lib.unescape(found.group(1)))


@pytest.fixture()
def assets_app(make_app):
    """An app whose private-mode assets are all installed (skips where `make browser-runtime` has not run)."""
    from app.pipeline.networks.browser_copies import stale_copies

    if stale_copies(WEIGHTS):
        pytest.fail(f"{stale_copies(WEIGHTS)}: run `flask weights fetch` (or `make weights`)")
    if not os.path.isfile(os.path.join(RUNTIME, "ort-wasm-simd-threaded.wasm")):
        pytest.skip(f"ONNX Runtime Web is not installed in {RUNTIME}: run `make browser-runtime` (needs npm)")
    return make_app()


def test_the_browser_copies_reproduce_the_served_networks():
    from app.pipeline.networks.browser_copies import MIN_COSINE, read_manifest
    from app.pipeline.networks.checksums import read_checksums

    manifest = read_manifest(WEIGHTS)
    if manifest is None:
        pytest.fail("no browser copies: run `flask weights fetch` (or `make weights`)")
    sums, folder = read_checksums(WEIGHTS), os.path.join(WEIGHTS, "browser")
    for name, entry in manifest["networks"].items():
        with open(os.path.join(folder, entry["file"]), "rb") as f:
            data = f.read()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert entry["file"].endswith(entry["sha256"][:12] + ".onnx")
        with gzip.open(os.path.join(folder, entry["file"] + ".gz")) as f:
            assert f.read() == data
        if name != "facenet":  # MTCNN as served, byte for byte
            assert entry["sha256"] == sums[f"{name}.onnx"] == entry["source_sha256"]
    facenet = manifest["networks"]["facenet"]
    assert facenet["bytes"] < 0.51 * os.path.getsize(os.path.join(WEIGHTS, "facenet.onnx"))  # float16 weights
    assert manifest["facenet_parity"]["faces"] >= 5 and manifest["facenet_parity"]["min_cosine"] >= MIN_COSINE


def test_the_page_lists_every_asset_with_its_checksum(assets_app):
    client = assets_app.test_client()
    resp = client.get("/")
    html = resp.get_data(as_text=True)
    manifest = manifest_of(html)
    assert manifest["available"] and manifest["match_url"] == "/match/embedding"
    assert manifest["model"]["id"] == client.get("/api/v1/model").get_json()["id"]
    assert set(manifest["assets"]) == {"pnet", "rnet", "onet", "facenet", "module", "wasm"}
    download = sum(a["bytes"] for role, a in manifest["assets"].items() if role != "module")
    assert download == manifest["download_bytes"]
    module = manifest["assets"]["module"]
    assert f'<link rel="modulepreload" href="{module["url"]}" integrity="{module["integrity"]}">' in html
    entries = re.findall(r'<script type="module" src="([^"]+)" integrity="sha384-[^"]+"></script>', html)
    assert [u.rsplit("/static/", 1)[1] for u in entries] == ["js/page/main.js", "js/private/main.js"]
    modules = [n for n in os.listdir(os.path.join(ROOT, "static", "js", "private")) if n.endswith(".js")]
    preloaded = [u for u in re.findall(r'<link rel="modulepreload" href="([^"]+)"', html) if "/js/page/" not in u]
    assert len(preloaded) == len(modules)  # ONNX Runtime's and every private module but the entry
    assert "Private: your photo stays on this device" in html
    assert "'wasm-unsafe-eval'" in resp.headers["Content-Security-Policy"]


def test_assets_are_content_named_cached_for_good_and_gzipped(assets_app):
    client = assets_app.test_client()
    manifest = manifest_of(client.get("/").get_data(as_text=True))
    first = 0
    for role, asset in manifest["assets"].items():
        plain = client.get(asset["url"], headers={"Accept-Encoding": "identity"})
        assert plain.status_code == 200 and "Content-Encoding" not in plain.headers
        assert hashlib.sha256(plain.data).hexdigest() == asset["sha256"] and asset["sha256"][:12] in asset["url"]
        assert plain.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert plain.mimetype == {"module": "text/javascript", "wasm": "application/wasm"}.get(
            role, "application/octet-stream")
        packed = client.get(asset["url"], headers={"Accept-Encoding": "gzip, br"})
        if role != "module":  # every large file goes gzipped: the first visit's download
            assert packed.headers["Content-Encoding"] == "gzip" and gzip.decompress(packed.data) == plain.data
            first += len(packed.data)
    assert first <= 50 * 2**20, f"{first / 2**20:.1f} MB for a first private match"
    assert client.get("/assets/facenet16-000000000000.onnx").status_code == 404
    assert client.get("/assets/..%2Fmanifest.json").status_code == 404


def test_the_page_is_told_how_many_threads(make_app, assets_app):
    assert manifest_of(assets_app.test_client().get("/").get_data(as_text=True))["threads"] == 1
    for setting, told in ((0, 1), (3, 3), ("auto", "auto")):
        client = make_app(PRIVATE_THREADS=setting).test_client()
        manifest = manifest_of(client.get("/").get_data(as_text=True))
        assert manifest["threads"] == told
        wasm = client.get(manifest["assets"]["wasm"]["url"])  # the assets are isolated like the page
        assert wasm.status_code == 200
        assert wasm.headers.get("Cross-Origin-Resource-Policy") == (None if told == 1 else "same-origin")


def test_webgpu_adds_the_jsep_build_without_changing_the_download(make_app, assets_app):
    plain = manifest_of(assets_app.test_client().get("/").get_data(as_text=True))
    client = make_app(PRIVATE_WEBGPU=True).test_client()
    manifest = manifest_of(client.get("/").get_data(as_text=True))
    assert set(manifest["assets"]) == set(plain["assets"]) | {"webgpu_module", "webgpu_wasm"}
    assert manifest["download_bytes"] == plain["download_bytes"]  # the WebAssembly path's, as before
    module, wasm = manifest["assets"]["webgpu_module"], manifest["assets"]["webgpu_wasm"]
    assert module["integrity"].startswith("sha384-") and "ort.bundle.min-" in module["url"]
    assert "jsep" in wasm["url"] and wasm["sha256"][:12] in wasm["url"]
    packed = client.get(wasm["url"], headers={"Accept-Encoding": "gzip"})
    assert packed.headers["Content-Encoding"] == "gzip" and packed.mimetype == "application/wasm"
    assert hashlib.sha256(gzip.decompress(packed.data)).hexdigest() == wasm["sha256"]
    assert client.get(module["url"]).mimetype == "text/javascript"


@pytest.mark.parametrize("overrides, reason", [
    ({"PRIVATE_MODE": False}, "turned off on this server"),
    ({"BROWSER_RUNTIME_DIR": "/nonexistent"}, "has not installed ONNX Runtime Web"),
])
def test_without_its_assets_the_page_offers_upload_and_says_why(make_app, overrides, reason):
    client = make_app(**overrides).test_client()
    html = client.get("/").get_data(as_text=True)
    assert "lookslike-private-mode" not in html and "/js/private/" not in html
    assert "Private mode, which keeps your photo on your device, is not available" in html and reason in html
    model = client.get("/api/v1/model").get_json()
    assert model["private_mode"] == {"available": False, "reason": model["private_mode"]["reason"]}
    assert reason in model["private_mode"]["reason"] and model["assets"] is None


def test_a_runtime_file_that_is_not_the_pinned_one_is_not_served(make_app, tmp_path):
    if not os.path.isdir(RUNTIME):
        pytest.skip(f"ONNX Runtime Web is not installed in {RUNTIME}: run `make browser-runtime`")
    for name in ("ort.wasm.bundle.min.mjs", "ort-wasm-simd-threaded.wasm"):
        shutil.copy(os.path.join(RUNTIME, name), tmp_path / name)
    with open(tmp_path / "ort.wasm.bundle.min.mjs", "a", encoding="utf-8") as f:
        f.write("\n// changed\n")
    client = make_app(BROWSER_RUNTIME_DIR=str(tmp_path)).test_client()
    html = client.get("/").get_data(as_text=True)
    assert "not the pinned ones" in html and "/js/private/" not in html

"""What the page downloads for private mode: the networks' browser copies and ONNX Runtime Web, content-named.

The networks' copies are made by `flask weights fetch` (app/pipeline/networks/browser_copies.py);
ONNX Runtime Web comes from npm (`make browser-runtime`) and is served only when its files match
the pinned checksums (scripts/onnxruntime-web.sha256). Every file is served under a name that
holds its sha256, so a browser may keep it for good, and the page checks each file's sha256 before
using it. When anything is missing, `reason` says why in words for visitors and `fix` what an
operator runs; the page then offers the upload only. With PRIVATE_WEBGPU, ONNX Runtime Web's JSEP
build (its WebGPU execution provider) is served as well, for the browsers that offer an adapter.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass, field

from app.pipeline.networks.browser_copies import MTCNN, browser_dir, read_manifest, stale_copies

RUNTIME_FILES = {"module": "ort.wasm.bundle.min.mjs", "wasm": "ort-wasm-simd-threaded.wasm"}
WEBGPU_FILES = {"webgpu_module": "ort.bundle.min.mjs", "webgpu_wasm": "ort-wasm-simd-threaded.jsep.wasm"}
MIME = {".onnx": "application/octet-stream", ".mjs": "text/javascript", ".wasm": "application/wasm"}


@dataclass(frozen=True)
class Asset:
    """One file the page downloads: its content-named URL name, where it is, and its checksums."""

    name: str
    path: str
    sha256: str
    size: int
    gzip_path: str = ""  # a gzip copy for clients that accept it ("" when none)
    integrity: str = ""  # Subresource Integrity (sha384) of a script

    @property
    def mime(self) -> str:
        """The Content-Type it is served with (application/wasm lets the browser compile while it downloads)."""
        return MIME.get(os.path.splitext(self.name)[1], "application/octet-stream")


@dataclass
class BrowserAssets:
    """The assets by URL name and by role (pnet, rnet, onet, facenet, module, wasm), or why there are none."""

    by_name: dict[str, Asset] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    reason: str = ""  # for visitors: why private mode is not offered ("" when it is)
    fix: str = ""  # for operators: what to run

    @property
    def available(self) -> bool:
        """True when every asset is here and checked."""
        return not self.reason

    def role(self, name: str) -> Asset:
        """The asset that plays a role."""
        return self.by_name[self.roles[name]]


def file_digests(path: str) -> tuple[str, str]:
    """(sha256 hex, sha384 base64) of a file."""
    sha256, sha384 = hashlib.sha256(), hashlib.sha384()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            sha256.update(chunk)
            sha384.update(chunk)
    return sha256.hexdigest(), base64.b64encode(sha384.digest()).decode("ascii")


def newer_gzip(path: str) -> str:
    """path + ".gz" when it exists and is not older than path, else ""."""
    gz = path + ".gz"
    return gz if os.path.isfile(gz) and os.path.getmtime(gz) >= os.path.getmtime(path) else ""


def pinned_sums(sums_path: str) -> dict[str, str]:
    """File name -> sha256 of the pinned ONNX Runtime Web files (sha256sum format)."""
    sums = {}
    with open(sums_path, encoding="utf-8") as f:
        for line in f:
            digest, _, name = line.strip().partition("  ")
            if digest and name:
                sums[name.lstrip("*")] = digest.lower()
    return sums


def network_assets(weights_dir: str, assets: BrowserAssets) -> None:
    """Add the networks' browser copies (sizes checked against their manifest), or say what is wrong."""
    stale = stale_copies(weights_dir)
    if stale:
        assets.reason = "this server has not made the in-browser copies of its face networks"
        assets.fix = f"{stale}: run `flask weights fetch`"
        return
    folder = browser_dir(weights_dir)
    for role in (*MTCNN, "facenet"):
        entry = read_manifest(weights_dir)["networks"][role]
        path = os.path.join(folder, entry["file"])
        if os.path.getsize(path) != entry["bytes"]:
            assets.reason = "the in-browser copies of the face networks on this server are damaged"
            assets.fix = f"{path} is not {entry['bytes']} bytes long: run `flask weights fetch --force`"
            return
        assets.by_name[entry["file"]] = Asset(entry["file"], path, entry["sha256"], entry["bytes"], newer_gzip(path))
        assets.roles[role] = entry["file"]


def runtime_assets(runtime_dir: str, sums_path: str, assets: BrowserAssets, files: dict[str, str]) -> None:
    """Add ONNX Runtime Web's modules and WebAssembly (files: role -> file name), content-named, when they
    match their pinned sums."""
    pinned = pinned_sums(sums_path)
    for role, file in files.items():
        path = os.path.join(runtime_dir, file)
        if not os.path.isfile(path):
            assets.reason = "this server has not installed ONNX Runtime Web, which runs the networks in the browser"
            assets.fix = f"{path} is missing: run `make browser-runtime` (it needs npm)"
            return
        sha256, sha384 = file_digests(path)
        if sha256 != pinned.get(file):
            assets.reason = "ONNX Runtime Web's files on this server are not the pinned ones"
            assets.fix = f"{path} does not match {sums_path}: run `make browser-runtime`"
            return
        stem, ext = os.path.splitext(file)
        name = f"{stem}-{sha256[:12]}{ext}"
        assets.by_name[name] = Asset(name, path, sha256, os.path.getsize(path), newer_gzip(path), f"sha384-{sha384}")
        assets.roles[role] = name


def load_browser_assets(weights_dir: str, runtime_dir: str, sums_path: str, config: dict) -> BrowserAssets:
    """The private mode's assets, checked; or a BrowserAssets whose `reason` says why private mode is off."""
    assets = BrowserAssets()
    if not config["PRIVATE_MODE"]:
        assets.reason, assets.fix = "private mode is turned off on this server", "PRIVATE_MODE is false"
    elif config["CROP_ALIGN"]:
        assets.reason = "this server levels the eyes of each face, which the in-browser version does not do"
        assets.fix = "CROP_ALIGN is true: private mode needs CROP_ALIGN false"
    else:
        network_assets(weights_dir, assets)
        if assets.available:
            files = {**RUNTIME_FILES, **(WEBGPU_FILES if config["PRIVATE_WEBGPU"] else {})}
            runtime_assets(runtime_dir, sums_path, assets, files)
    if not assets.available:
        assets.by_name.clear()
        assets.roles.clear()
    return assets


def page_manifest(assets: BrowserAssets, model: dict, url_of, match_url: str) -> dict:
    """What the page needs for private mode: the model, and each asset's URL, sha256 and size (or why not)."""
    if not assets.available:
        return {"available": False, "reason": assets.reason}

    def entry(role: str) -> dict:
        asset = assets.role(role)
        item = {"url": url_of(asset.name), "sha256": asset.sha256, "bytes": asset.size}
        return {**item, "integrity": asset.integrity} if asset.integrity else item

    roles = (*MTCNN, "facenet", "module", "wasm")
    extra = tuple(role for role in WEBGPU_FILES if role in assets.roles)  # only with PRIVATE_WEBGPU
    return {"available": True, "reason": "", "match_url": match_url,
            "model": {k: model[k] for k in ("id", "dimension", "settings")},
            "assets": {role: entry(role) for role in roles + extra},
            "download_bytes": sum(assets.role(r).size for r in roles if r != "module")}

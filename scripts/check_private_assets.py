"""Check that a running server offers private mode and serves every file its page lists (`make docker-check`).

    python3 scripts/check_private_assets.py http://127.0.0.1:8301

Reads the private-mode manifest the upload page carries (<meta name="lookslike-private-mode">): it must
say available, name the embedding model /readyz names, and list the networks' browser copies and ONNX
Runtime Web's module and WebAssembly. Each file is fetched as the page fetches it and must come back 200
with the size and sha256 the manifest gives (and the module its Subresource Integrity), cached for good;
where the server has a gzip copy, a request that accepts gzip must get it, and it must unpack to the same
bytes. Prints one line per file; exits 1 naming the first file that is wrong.

Only the standard library: it runs on the host, outside the image.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import html
import json
import re
import sys
import urllib.error
import urllib.request

META = re.compile(r'<meta name="lookslike-private-mode" content="([^"]*)"')
GZIPPED_ROLES = ("facenet", "wasm")  # the two large files: the app keeps a gzip copy of each


class Failed(Exception):
    """A check failed; the message says which file and how."""


def get(url: str, accept_encoding: str = "identity") -> tuple[int, dict, bytes]:
    """(status, headers, body) of a GET, errors included."""
    request = urllib.request.Request(url, headers={"Accept-Encoding": accept_encoding})
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, dict(err.headers), err.read()


def page_manifest(base: str) -> dict:
    """The private-mode manifest of the upload page."""
    status, _, body = get(base + "/")
    if status != 200:
        raise Failed(f"GET / answered {status}")
    found = META.search(body.decode("utf-8"))
    if not found:
        raise Failed("the upload page carries no private-mode manifest (is private mode off?)")
    return json.loads(html.unescape(found.group(1)))


def check_asset(base: str, role: str, entry: dict) -> str:
    """Fetch one asset plainly (and gzipped when the server keeps a copy); the line that describes it."""
    url = base + entry["url"]
    status, headers, body = get(url)
    if status != 200:
        raise Failed(f"{role}: GET {entry['url']} answered {status}")
    digest = hashlib.sha256(body).hexdigest()
    if len(body) != entry["bytes"] or digest != entry["sha256"]:
        raise Failed(f"{role}: {entry['url']} is {len(body)} bytes with sha256 {digest}; the manifest says "
                     f"{entry['bytes']} bytes, sha256 {entry['sha256']}")
    if "immutable" not in headers.get("Cache-Control", ""):
        raise Failed(f"{role}: {entry['url']} is not cached for good (Cache-Control: {headers.get('Cache-Control')})")
    if entry.get("integrity"):
        sri = "sha384-" + base64.b64encode(hashlib.sha384(body).digest()).decode("ascii")
        if sri != entry["integrity"]:
            raise Failed(f"{role}: {entry['url']} has integrity {sri}, the page gives {entry['integrity']}")
    line = f"{role:8} 200 {len(body):>10,} B  sha256 {digest[:16]}…  {headers.get('Content-Type')}"
    if role in GZIPPED_ROLES:
        status, headers, packed = get(url, "gzip")
        if status != 200 or headers.get("Content-Encoding") != "gzip":
            raise Failed(f"{role}: {entry['url']} with Accept-Encoding: gzip came back {status}, "
                         f"Content-Encoding {headers.get('Content-Encoding')!r} (no gzip copy served)")
        if hashlib.sha256(gzip.decompress(packed)).hexdigest() != entry["sha256"]:
            raise Failed(f"{role}: the gzip copy of {entry['url']} does not unpack to the file")
        line += f"  (gzip {len(packed):,} B)"
    return line


def check(base: str) -> None:
    """Every check, printing as it goes."""
    manifest = page_manifest(base)
    if not manifest.get("available"):
        raise Failed(f"the page does not offer private mode: {manifest.get('reason')}")
    status, _, body = get(base + "/readyz")
    served = json.loads(body).get("embedding_model") if status == 200 else None
    if manifest["model"]["id"] != served:
        raise Failed(f"the page's model {manifest['model']['id']} is not the one /readyz serves ({served})")
    print(f"private mode offered: model {served}, {manifest['download_bytes']:,} B to download")
    for role, entry in manifest["assets"].items():
        print(check_asset(base, role, entry))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", help="the server's address, e.g. http://127.0.0.1:8301")
    args = parser.parse_args()
    try:
        check(args.base.rstrip("/"))
    except (Failed, OSError, ValueError, KeyError) as exc:
        print(f"private mode: FAILED: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

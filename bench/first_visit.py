"""What a visitor's browser downloads and uploads, measured with the app's test client (no server, no network).

A first visit: the upload page, every file it loads (CSS, JS, icon, the featured celebrities'
thumbnails: as many as a large gallery features, from the mean size of this gallery's), the upload
of one photo as the page's script sends it (shrunk to 1024 px on its longer side, JPEG quality 0.9:
static/js/page/photos.js), the results page (the visitor's face crop is inline in it) and the thumbnails it
shows. A further match of the same visitor: the upload, the results page and its thumbnails (the
browser has the rest). Bytes are response bodies as the app sends them, without HTTP headers, TLS
or compression (neither the app nor the load balancer compresses).

    python bench/first_visit.py [--photo FILE]
"""

from __future__ import annotations

import argparse
import glob
import io
import os
import re
import sys
from typing import NamedTuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
VAL = os.path.join(ROOT, "instance", "datasets", "5-celebrity-faces", "val")
PHONE = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "edge-cases", "obama-1080p.jpg"))
# As static/js/page/photos.js prepares a photo before sending it.
BROWSER_MAX_SIDE, BROWSER_JPEG_QUALITY = 1024, 90
LOADED = re.compile(r'<(?:img|script)\b[^>]*?\ssrc="(/[^"]*)"|<link\b[^>]*?\shref="(/[^"]*)"')


class Part(NamedTuple):
    """One part of a visit: what it is, how many files, how many bytes, and which way they go."""

    name: str
    files: int
    size: int
    upload: bool = False


def browser_upload(path: str) -> bytes:
    """The photo as the page's script sends it: at most 1024 px on its longer side, re-encoded as JPEG 0.9."""
    from PIL import Image, ImageOps

    with Image.open(path) as img:
        img = ImageOps.exif_transpose(img).convert("RGB")
        scale = min(1.0, BROWSER_MAX_SIDE / max(img.size))
        if scale < 1:
            img = img.resize((round(img.width * scale), round(img.height * scale)), Image.LANCZOS)
        out = io.BytesIO()
        img.save(out, format="JPEG", quality=BROWSER_JPEG_QUALITY)
    return out.getvalue()


def default_photo() -> tuple[str, str]:
    """(path, description) of the photo a visitor uploads: a 1080p phone photo when ../shared has it, else the
    largest demo val photo."""
    if os.path.isfile(PHONE):
        return PHONE, "a 1080p phone photo (../shared/data/edge-cases/obama-1080p.jpg)"
    files = glob.glob(os.path.join(VAL, "*", "*"))
    if not files:
        raise SystemExit(f"no photos in {VAL}: run `make demo`")
    largest = max(files, key=os.path.getsize)
    return largest, f"the largest demo val photo ({os.path.relpath(largest, ROOT)})"


def loaded_urls(html: str) -> list[str]:
    """Same-site files a page makes the browser load (images, scripts, stylesheets, icons), in page order,
    each once; data: URLs are inside the page already."""
    urls = [a or b for a, b in LOADED.findall(html)]
    return list(dict.fromkeys(urls))


def fetch_all(client, urls: list[str]) -> int:
    """Total body bytes of GETting each URL (each must answer 200)."""
    total = 0
    for url in urls:
        resp = client.get(url)
        if resp.status_code != 200:
            raise SystemExit(f"GET {url}: {resp.status_code}")
        total += len(resp.get_data())
    return total


def visit(client, photo: bytes) -> tuple[list[Part], list[Part]]:
    """(parts of a first visit, parts of a further match) of one visitor uploading `photo`."""
    from app.web import FEATURED

    page = client.get("/")
    assets = loaded_urls(page.get_data(as_text=True))
    thumbs = [u for u in assets if u.startswith("/gallery/")]
    static = [u for u in assets if u not in thumbs]
    resp = client.post("/match", data={"photo": (io.BytesIO(photo), "photo.jpg")}, content_type="multipart/form-data")
    if resp.status_code != 200:
        raise SystemExit(f"POST /match: {resp.status_code} (a photo with a face is needed)")
    result_thumbs = [u for u in loaded_urls(resp.get_data(as_text=True)) if u.startswith("/gallery/")]
    upload = Part("upload: the photo, as the page sends it", 1, len(photo), upload=True)
    results = [Part("results page (face crop inline)", 1, len(resp.get_data())),
               # all of them: in a gallery of thousands they are rarely the featured ones
               Part("results' thumbnails", len(result_thumbs), fetch_all(client, result_thumbs))]
    featured = fetch_all(client, thumbs)
    first = [Part("upload page /", 1, len(page.get_data())),
             Part("CSS, JS, icon", len(static), fetch_all(client, static)),
             Part("featured celebrities' thumbnails", len(thumbs), featured)]
    if thumbs and len(thumbs) < FEATURED:  # a small gallery features fewer than a large one will
        missing = FEATURED - len(thumbs)
        first.append(Part(f"{missing} more featured thumbnails of a larger gallery (their mean size)", missing,
                          missing * featured // len(thumbs)))
    return [*first, upload, *results], [upload, *results]


def measure(photo_path: str | None = None) -> tuple[list[Part], list[Part], str]:
    """A visit on the app as configured here (its gallery): (first visit, further match, photo description)."""
    from app import create_app

    path, described = (photo_path, photo_path) if photo_path else default_photo()
    app = create_app({"TESTING": True, "EAGER_LOAD": True, "CLI_COMMANDS": False})  # no TensorFlow
    first, further = visit(app.test_client(), browser_upload(path))
    return first, further, f"{described}, shrunk as the page does to {len(browser_upload(path)):,} bytes"


def totals(parts: list[Part]) -> tuple[int, int]:
    """(bytes down, bytes up) of a visit."""
    return sum(p.size for p in parts if not p.upload), sum(p.size for p in parts if p.upload)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photo", help="the photo a visitor uploads (default: see above)")
    args = ap.parse_args()
    first, further, described = measure(args.photo)
    print(f"photo: {described}")
    for label, parts in (("first visit", first), ("further match", further)):
        down, up = totals(parts)
        print(f"{label}: {down:,} bytes down, {up:,} bytes up")
        for p in parts:
            print(f"  {p.name}: {p.files} file(s), {p.size:,} bytes {'up' if p.upload else 'down'}")


if __name__ == "__main__":
    main()

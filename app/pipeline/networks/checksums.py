"""Checksums of the network files: a `SHA256SUMS` manifest beside them, checked before they load.

The manifest is in `sha256sum` format (`<hex>  <file name>`, one a line), so `sha256sum -c
SHA256SUMS` in the folder checks it too. `flask weights fetch` records every file it installs;
any other installer (e.g. a converted ONNX model) adds its files with `record_checksums`, and the
engine calls `verify_checksums` on every file it loads.
"""

from __future__ import annotations

import os

from app.datasets.download import sha256_file
from app.pipeline.errors import StartupError

MANIFEST = "SHA256SUMS"


def read_checksums(folder: str) -> dict[str, str]:
    """File name -> sha256 hex from folder/SHA256SUMS ({} when there is none)."""
    path = os.path.join(folder, MANIFEST)
    if not os.path.isfile(path):
        return {}
    sums = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            digest, sep, name = line.rstrip("\n").partition("  ")
            if sep and len(digest) == 64:
                sums[name.lstrip("*")] = digest.lower()
    return sums


def record_checksums(paths: list[str]) -> None:
    """Add (or replace) the sha256 of each file in the SHA256SUMS of its folder, atomically."""
    by_folder: dict[str, list[str]] = {}
    for path in paths:
        by_folder.setdefault(os.path.dirname(os.path.abspath(path)), []).append(path)
    for folder, files in by_folder.items():
        sums = read_checksums(folder)
        sums.update({os.path.basename(p): sha256_file(p) for p in files})
        tmp = os.path.join(folder, f".{MANIFEST}.{os.getpid()}")
        with open(tmp, "w", encoding="utf-8") as f:
            f.writelines(f"{digest}  {name}\n" for name, digest in sorted(sums.items()))
        os.replace(tmp, os.path.join(folder, MANIFEST))


def verify_checksums(paths: list[str], fix: str) -> None:
    """StartupError naming the file and `fix` unless every file matches its folder's SHA256SUMS."""
    for path in paths:
        folder, name = os.path.split(os.path.abspath(path))
        manifest = os.path.join(folder, MANIFEST)
        if not os.path.isfile(path):
            raise StartupError(f"{path} is missing. Run `{fix}`.")
        expected = read_checksums(folder).get(name)
        if expected is None:
            raise StartupError(f"{path} has no checksum in {manifest}, so it cannot be trusted. Run `{fix}`.")
        actual = sha256_file(path)
        if actual != expected:
            raise StartupError(f"{path} is corrupt: its sha256 is {actual[:16]}..., {manifest} says "
                               f"{expected[:16]}.... Run `{fix}`.")

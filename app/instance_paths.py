"""Where the instance folder's files live: a path setting when set, else its place under the instance folder."""

from __future__ import annotations

import os

from flask import Flask


def weights_path(app: Flask) -> str:
    """Path of the converted FaceNet weights under the instance folder."""
    return app.config.get("WEIGHTS_PATH") or os.path.join(
        app.instance_path, "weights", "facenet_keras.weights.h5"
    )


def datasets_dir(app: Flask) -> str:
    """Folder of downloaded and extracted photo datasets (demo photos, LFW)."""
    return app.config.get("DATASETS_DIR") or os.path.join(app.instance_path, "datasets")


def galleries_dir(app: Flask) -> str:
    """Folder that holds one sub-folder per gallery."""
    return app.config.get("GALLERIES_DIR") or os.path.join(app.instance_path, "galleries")


def models_dir(app: Flask) -> str:
    """Folder that holds one sub-folder per trained model."""
    return app.config.get("MODELS_DIR") or os.path.join(app.instance_path, "models")


def calibration_path(app: Flask, kind: str = "facenet") -> str:
    """Path of a fitted calibration: "facenet" (pairs, overrides VERIFY_CALIBRATION) or "check"."""
    return os.path.join(app.instance_path, "calibration", f"{kind}.json")


def api_keys_path(app: Flask) -> str:
    """File of the API keys' hashes (`flask keys`): API_KEYS_FILE, else instance/api_keys.json."""
    return app.config.get("API_KEYS_FILE") or os.path.join(app.instance_path, "api_keys.json")



def browser_runtime_dir(app: Flask) -> str:
    """ONNX Runtime Web's dist folder (private mode): BROWSER_RUNTIME_DIR, else `make browser-runtime`'s."""
    return app.config.get("BROWSER_RUNTIME_DIR") or os.path.join(
        os.path.dirname(app.root_path), "build", "npm", "node_modules", "onnxruntime-web", "dist")

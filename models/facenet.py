"""FaceNet (Inception-ResNet-v1, 128-d, MS-Celeb-1M weights): build, convert and load."""

from __future__ import annotations

import os

import h5py
import numpy as np

EMBEDDING_DIM = 128
INPUT_SIDE = 160  # input side of the network (px), fixed by its weights


def build_facenet():
    """The bare 128-d Inception-ResNet-v1 network (architecture from keras-facenet)."""
    from keras_facenet.inception_resnet_v1 import InceptionResNetV1

    return InceptionResNetV1(input_shape=(INPUT_SIDE, INPUT_SIDE, 3), classes=EMBEDDING_DIM)


def _weighted_layer_names(model) -> list[str]:
    """Names of the model's layers that own weights."""
    return [layer.name for layer in model.layers if layer.weights]


def convert_keras_h5(src: str, dst: str) -> int:
    """Load a full-model facenet_keras.h5 by layer name and save plain weights to dst; returns layer count."""
    model = build_facenet()
    with h5py.File(src, "r") as f:
        group = f["model_weights"] if "model_weights" in f else f
        available = set(group.keys())
    missing = [name for name in _weighted_layer_names(model) if name not in available]
    if missing:
        raise ValueError(f"{src} lacks weights for {len(missing)} layers, e.g. {missing[:3]}")
    model.load_weights(src, by_name=True)
    os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
    model.save_weights(dst)
    return len(_weighted_layer_names(model))


def load_facenet(weights_path: str):
    """Build FaceNet and load the converted weights (raises if missing or corrupt)."""
    model = build_facenet()
    model.load_weights(weights_path)
    return model


def standardize(faces: np.ndarray) -> np.ndarray:
    """Per-image standardization: (x - mean) / max(std, 1/sqrt(n)), as the weights expect."""
    x = faces.astype(np.float32)
    axes = tuple(range(1, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    std = x.std(axis=axes, keepdims=True)
    n = float(np.prod(x.shape[1:]))
    return (x - mean) / np.maximum(std, 1.0 / np.sqrt(n))

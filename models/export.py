"""Export of the face networks to ONNX: MTCNN's PNet, RNet, ONet (mtcnn 1.0 weights) and FaceNet.

Needs TensorFlow, mtcnn, keras-facenet, tf2onnx and onnx; it runs once, at `flask weights fetch`.
The serving side then runs the .onnx files with ONNX Runtime and never imports TensorFlow
(app/pipeline/networks/runtime.py). Every network takes one float32 NHWC input named "input" and has
named outputs, in the order its Keras call returns them (NETWORKS).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from models.facenet import INPUT_SIDE, load_facenet

OPSET = 17
# Written into every exported file (metadata EXPORT_KEY); `flask weights fetch` converts again when an
# installed file is older. 2: PReLU as channel ops (ONNX Runtime's blocked layout), MTCNN a quarter faster.
EXPORT_KEY, EXPORT_VERSION = "lookslike_export", 2
NETWORKS: dict[str, dict[str, Any]] = {
    "pnet": {"input": [None, None, None, 3], "outputs": ["reg", "prob"]},
    "rnet": {"input": [None, 24, 24, 3], "outputs": ["reg", "prob"]},
    "onet": {"input": [None, 48, 48, 3], "outputs": ["reg", "landmarks", "prob"]},
    "facenet": {"input": [None, INPUT_SIDE, INPUT_SIDE, 3], "outputs": ["embedding"]},
}


def keras_networks(facenet_weights: str) -> dict[str, Any]:
    """The four Keras networks: mtcnn 1.0's stages with its bundled weights, and FaceNet."""
    from mtcnn.stages import StageONet, StagePNet, StageRNet

    return {"pnet": StagePNet().model, "rnet": StageRNet().model, "onet": StageONet().model,
            "facenet": load_facenet(facenet_weights)}


def named_function(model: Any, name: str) -> tuple[Any, list]:
    """A tf.function returning the model's outputs by name, and its input signature."""
    import tensorflow as tf

    spec = [tf.TensorSpec(NETWORKS[name]["input"], tf.float32, name="input")]
    names = NETWORKS[name]["outputs"]

    def forward(x):
        """Named outputs in inference mode."""
        out = model(x, training=False)
        out = out if isinstance(out, (list, tuple)) else [out]
        return {n: tf.identity(o, name=n) for n, o in zip(names, out)}

    return tf.function(forward, input_signature=spec), spec


def prelu_as_channel_ops(proto: Any) -> int:
    """Rewrite tf2onnx's PReLU pattern Relu(x) + Relu(Neg(x)) * c for ONNX Runtime's fast layout; returns how many.

    After a convolution (a 4-D slope) it becomes Relu(x) + DwConv(Relu(DwConv(x, -1)), c), with 1x1
    depthwise convolutions in place of Neg and the per-channel Mul: ONNX Runtime's blocked (NCHWc)
    convolutions take those and the Add, where Neg, a broadcast Mul or a PRelu node made it reorder
    the tensor out and back around every layer (measured: RNet and ONet a third faster, PNet a
    fifth). After a dense layer it becomes one PRelu(x, -c). Both are bit-identical: each output is
    x, or c times -x, computed by one multiplication as in the original graph.
    """
    import onnx
    from onnx import numpy_helper

    graph = proto.graph
    made_by = {out: node for node in graph.node for out in node.output}
    uses: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            uses[name] = uses.get(name, 0) + 1
    consts = {init.name: init for init in graph.initializer}
    replaced: dict[int, list[Any]] = {}  # id of the Add -> the nodes in its place
    dropped: set[int] = set()
    for add in graph.node:
        if add.op_type != "Add" or len(add.input) != 2:
            continue
        first, second = (made_by.get(n) for n in add.input)
        if first is None or second is None:
            continue
        relu, mul = (first, second) if first.op_type == "Relu" else (second, first)
        if relu.op_type != "Relu" or mul.op_type != "Mul" or mul.input[1] not in consts:
            continue
        neg_relu = made_by.get(mul.input[0])
        neg = made_by.get(neg_relu.input[0]) if neg_relu is not None and neg_relu.op_type == "Relu" else None
        if neg is None or neg.op_type != "Neg" or neg.input[0] != relu.input[0]:
            continue
        if any(uses.get(n.output[0], 0) != 1 for n in (relu, mul, neg_relu, neg)):
            continue
        c = numpy_helper.to_array(consts[mul.input[1]]).astype(np.float32)
        x, y, key = relu.input[0], add.output[0], add.output[0] + "__prelu"  # output names are unique
        if c.ndim == 4:  # [1, C, 1, 1] after a convolution: depthwise 1x1 weights [C, 1, 1, 1]
            channels = c.size
            graph.initializer.extend([numpy_helper.from_array(-np.ones((channels, 1, 1, 1), np.float32), key + "_neg"),
                                      numpy_helper.from_array(c.reshape(channels, 1, 1, 1), key + "_slope")])
            replaced[id(add)] = [
                onnx.helper.make_node("Relu", [x], [key + "_pos"], name=key + "_pos"),
                onnx.helper.make_node("Conv", [x, key + "_neg"], [key + "_negx"], name=key + "_negx",
                                      group=channels, kernel_shape=[1, 1]),
                onnx.helper.make_node("Relu", [key + "_negx"], [key + "_negpart"], name=key + "_negpart"),
                onnx.helper.make_node("Conv", [key + "_negpart", key + "_slope"], [key + "_scaled"],
                                      name=key + "_scaled", group=channels, kernel_shape=[1, 1]),
                onnx.helper.make_node("Add", [key + "_pos", key + "_scaled"], [y], name=key)]
        else:
            graph.initializer.append(numpy_helper.from_array(-c, key + "_slope"))
            replaced[id(add)] = [onnx.helper.make_node("PRelu", [x, key + "_slope"], [y], name=key)]
        dropped.update(id(n) for n in (relu, mul, neg_relu, neg))
    nodes = [m for n in graph.node if id(n) not in dropped for m in replaced.get(id(n), [n])]
    del graph.node[:]
    graph.node.extend(nodes)
    used = {name for n in graph.node for name in n.input}
    for init in [i for i in graph.initializer if i.name not in used]:
        graph.initializer.remove(init)
    onnx.checker.check_model(proto)
    return len(replaced)


def export_onnx(model: Any, name: str, path: str) -> None:
    """Write one Keras network as ONNX (opset 17, input "input", named outputs, channel-op PReLU, EXPORT_VERSION)."""
    import onnx
    import tf2onnx

    fn, spec = named_function(model, name)
    proto, _ = tf2onnx.convert.from_function(fn, input_signature=spec, opset=OPSET)
    prelu_as_channel_ops(proto)
    onnx.helper.set_model_props(proto, {EXPORT_KEY: str(EXPORT_VERSION)})
    onnx.save(proto, path)


def export_all(facenet_weights: str, out_dir: str) -> list[str]:
    """Export PNet, RNet, ONet and FaceNet into out_dir as <name>.onnx; returns the files written."""
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for name, model in keras_networks(facenet_weights).items():
        paths.append(os.path.join(out_dir, f"{name}.onnx"))
        export_onnx(model, name, paths[-1])
    return paths

"""The ONNX export's PReLU rewrite: bit-identical to tf2onnx's pattern, in ONNX Runtime's fast layout."""

from __future__ import annotations

import os
import shutil

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from app.pipeline.networks.checksums import record_checksums, verify_checksums
from app.pipeline.networks.install import export_version, stale_exports
from app.pipeline.networks.runtime import NETWORK_NAMES, onnx_path
from conftest import ROOT, require_setup
from models.export import EXPORT_VERSION, OPSET, prelu_as_channel_ops

WEIGHTS = os.path.join(ROOT, "instance", "weights")


def tf2onnx_prelu(x: str, slope: np.ndarray, out: str, key: str) -> tuple[list, list]:
    """tf2onnx's PReLU: Relu(x) + Relu(Neg(x)) * -slope, as nodes and initializers."""
    nodes = [helper.make_node("Relu", [x], [key + "p"]), helper.make_node("Neg", [x], [key + "n"]),
             helper.make_node("Relu", [key + "n"], [key + "r"]),
             helper.make_node("Mul", [key + "r", key + "c"], [key + "m"]),
             helper.make_node("Add", [key + "p", key + "m"], [out])]
    return nodes, [numpy_helper.from_array(-slope.astype(np.float32), key + "c")]


def conv_then_dense() -> onnx.ModelProto:
    """A conv layer and a dense layer, each followed by tf2onnx's PReLU pattern (MTCNN's shape)."""
    rng = np.random.default_rng(0)
    conv_nodes, conv_inits = tf2onnx_prelu("conv", rng.uniform(0, 0.5, (1, 8, 1, 1)), "act", "a")
    dense_nodes, dense_inits = tf2onnx_prelu("dense", rng.uniform(0, 0.5, (16,)), "y", "b")
    nodes = [helper.make_node("Conv", ["x", "w", "bias"], ["conv"], kernel_shape=[3, 3]), *conv_nodes,
             helper.make_node("Flatten", ["act"], ["flat"]),
             helper.make_node("Gemm", ["flat", "dw", "db"], ["dense"]), *dense_nodes]
    inits = [numpy_helper.from_array(rng.normal(0, 1, (8, 3, 3, 3)).astype(np.float32), "w"),
             numpy_helper.from_array(rng.normal(0, 1, 8).astype(np.float32), "bias"),
             numpy_helper.from_array(rng.normal(0, 0.1, (8 * 10 * 10, 16)).astype(np.float32), "dw"),
             numpy_helper.from_array(rng.normal(0, 1, 16).astype(np.float32), "db"), *conv_inits, *dense_inits]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3, 12, 12])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 16])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])


def run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    """The model's output on ONNX Runtime, every optimization on, as served."""
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def test_prelu_rewrite_is_bit_identical_and_leaves_no_neg_or_broadcast_mul():
    original = conv_then_dense()
    rewritten = onnx.ModelProto()
    rewritten.CopyFrom(original)
    assert prelu_as_channel_ops(rewritten) == 2
    ops = [n.op_type for n in rewritten.graph.node]
    assert "Neg" not in ops and "Mul" not in ops
    assert ops.count("PRelu") == 1  # the dense layer's; the conv layer's became 1x1 depthwise convolutions
    depthwise = [n for n in rewritten.graph.node if n.op_type == "Conv"
                 and {a.name: helper.get_attribute_value(a) for a in n.attribute}.get("group") == 8]
    assert len(depthwise) == 2
    x = np.random.default_rng(1).normal(0, 1, (4, 3, 12, 12)).astype(np.float32)
    before, after = run(original, x), run(rewritten, x)
    assert (before < 0).any() and np.array_equal(before, after)


def test_installed_mtcnn_networks_come_from_this_exporter():
    require_setup()
    for name, dense_prelus in (("pnet", 0), ("rnet", 1), ("onet", 1)):
        path = onnx_path(WEIGHTS, name)
        assert export_version(path) == EXPORT_VERSION, f"{path}: run `flask weights fetch`"
        ops = [n.op_type for n in onnx.load(path).graph.node]
        assert "Neg" not in ops and ops.count("PRelu") == dense_prelus, name


@pytest.mark.parametrize("props, version", [({}, 0), ({"lookslike_export": "2"}, 2), ({"lookslike_export": "x"}, 0)])
def test_export_version_is_read_from_the_file(tmp_path, props, version):
    model = conv_then_dense()
    helper.set_model_props(model, props)
    path = str(tmp_path / "net.onnx")
    onnx.save(model, path)
    assert export_version(path) == version


def test_staleness_names_only_the_files_of_an_older_exporter(tmp_path):
    paths = []
    for name, props in (("old", {}), ("current", {"lookslike_export": str(EXPORT_VERSION)})):
        model = conv_then_dense()
        helper.set_model_props(model, props)
        paths.append(str(tmp_path / f"{name}.onnx"))
        onnx.save(model, paths[-1])
    assert stale_exports(paths) == ("old.onnx (version 0) was written by an older exporter; "
                                    f"this one is version {EXPORT_VERSION}")
    assert stale_exports(paths[1:]) == ""


@pytest.mark.slow  # a whole conversion: TensorFlow, tf2onnx and the check on demo photos
def test_weights_fetch_converts_an_install_of_an_older_exporter_again(tmp_path, make_app):
    weights = tmp_path / "weights"
    shutil.copytree(WEIGHTS, weights)
    older = str(weights / "pnet.onnx")
    model = onnx.load(older)
    del model.metadata_props[:]  # as written before the exporter recorded its version
    onnx.save(model, older)
    record_checksums([older])  # intact, only older
    app = make_app(EAGER_LOAD=False, WEIGHTS_PATH=str(weights / "facenet_keras.weights.h5"))
    result = app.test_cli_runner().invoke(args=["weights", "fetch"])
    assert result.exit_code == 0, result.output
    assert "converting again: pnet.onnx (version 0) was written by an older exporter" in result.output
    assert "ONNX networks installed in" in result.output
    converted = [onnx_path(str(weights), name) for name in NETWORK_NAMES]
    assert [export_version(path) for path in converted] == [EXPORT_VERSION] * len(converted)
    verify_checksums(converted, "flask weights fetch")  # SHA256SUMS records the new files
    again = app.test_cli_runner().invoke(args=["weights", "fetch"])
    assert again.exit_code == 0 and "ONNX networks already installed" in again.output, again.output

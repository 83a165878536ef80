"""Per-module verification: one FINN node, random inputs, FINN's Python execution as the reference.

``verify_node`` executes the node with FINN's generic op class (no Vivado),
packs inputs and expected outputs into beats the way FINN streams them,
emits the node's RTL wrapper with ``fqsr.hw.generate.emit_node`` and runs
``fqsr.sim.bench`` on it under random source gaps and sink back-pressure.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
from onnx import TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp
from qonnx.util.basic import gen_finn_dt_tensor

from fqsr.flows.finn import register_custom_ops  # noqa: F401 (PixelShuffle)
from fqsr.flows.finn.hardware import PythonExecutionView
from fqsr.hw.generate import emit_node
from fqsr.sim.axis import pack_beats
from fqsr.sim.runner import run_cocotb, sim_build_root

HW_DOMAIN = "finn.custom_op.fpgadataflow"


def single_node_model(op_type: str, inputs: dict, outputs: dict, initializers: dict | None = None,
                      **attrs) -> ModelWrapper:
    """A graph holding one FINN HW node. ``inputs``/``outputs``: name -> (shape, DataType name)."""
    initializers = initializers or {}
    names_in = list(inputs) + list(initializers)
    node = helper.make_node(op_type, names_in, list(outputs), domain=f"{HW_DOMAIN}.{_impl(op_type)}",
                            backend="fpgadataflow", name=f"{op_type}_0", **attrs)
    vi = lambda n, s: helper.make_tensor_value_info(n, TensorProto.FLOAT, list(s))  # noqa: E731
    graph = helper.make_graph([node], "single", [vi(n, s) for n, (s, _) in inputs.items()],
                              [vi(n, s) for n, (s, _) in outputs.items()])
    model = ModelWrapper(helper.make_model(graph, producer_name="fqsr"))
    for name, (_, dt) in {**inputs, **outputs}.items():
        model.set_tensor_datatype(name, DataType[dt])
    for name, (value, dt) in initializers.items():
        model.set_initializer(name, np.asarray(value, dtype=np.float32))
        model.set_tensor_datatype(name, DataType[dt])
    return model


def node_model(model: ModelWrapper, node) -> ModelWrapper:
    """The single-node graph of one node of a dataflow graph: same attributes, initializers, datatypes."""
    inputs = {n: (model.get_tensor_shape(n), model.get_tensor_datatype(n).name)
              for n in node.input if model.get_initializer(n) is None}
    outputs = {n: (model.get_tensor_shape(n), model.get_tensor_datatype(n).name) for n in node.output}
    inits = {n: (model.get_initializer(n), model.get_tensor_datatype(n).name)
             for n in node.input if model.get_initializer(n) is not None}
    single = single_node_model(node.op_type, inputs, outputs, initializers=inits)
    single.graph.node[0].CopyFrom(node)
    return single


def _impl(op_type: str) -> str:
    return op_type.rsplit("_", 1)[1] if op_type.endswith(("_hls", "_rtl")) else ""


def finn_execute(model: ModelWrapper, feed: dict) -> dict:
    """Run the node with FINN's generic Python op (the reference for the RTL)."""
    view = ModelWrapper(model.model.__deepcopy__()).transform(PythonExecutionView())
    node = view.graph.node[0]
    context = {name: np.asarray(value, dtype=np.float32) for name, value in feed.items()}
    for name in model.get_all_tensor_names():
        if model.get_initializer(name) is not None:
            context[name] = model.get_initializer(name)
    for name in node.output:  # some FINN ops read the output shape from the context
        context[name] = np.zeros(model.get_tensor_shape(name), dtype=np.float32)
    getCustomOp(node).execute_node(context, view.graph)
    return {name: context[name] for name in node.output}


@dataclass
class BenchResult:
    beats_in: int
    beats_out: int
    sim: str
    cycles: int  # reset release to the last output beat
    exp_cycles: int  # FINN's estimate for the same number of frames (0 if the op has none)


def verify_node(model: ModelWrapper, *, sim: str = "verilator", seed: int = 0, p_gap: float = 0.3,
                p_stall: float = 0.3, frames: int = 1, feed: dict | None = None,
                max_cycles: int | None = None, lut_products: bool = False) -> BenchResult:
    """Random inputs (``frames`` of them, streamed back to back) -> FINN reference -> RTL under stalls.
    ``lut_products``: simulate mvau.v's ``LUT_MULT`` products in their LUT form (:func:`fqsr.sim.runner.run_cocotb`)."""
    node = model.graph.node[0]
    inst = getCustomOp(node)
    rng_seed = np.random.default_rng(seed)
    inputs, outputs = {}, {}
    for frame in range(frames):
        stim = dict(feed or {})
        for i, name in enumerate(n for n in node.input if model.get_initializer(n) is None):
            if name not in stim:
                np.random.seed(int(rng_seed.integers(1 << 30)))
                stim[name] = gen_finn_dt_tensor(inst.get_input_datatype(i), inst.get_normal_input_shape(i))
        ref = finn_execute(model, stim)
        for i, name in enumerate(n for n in node.input if model.get_initializer(n) is None):
            lanes = inst.get_folded_input_shape(i)[-1]
            inputs.setdefault(f"in{i}", []).extend(pack_beats(stim[name], inst.get_input_datatype(i).bitwidth(), lanes))
        for j, name in enumerate(node.output):
            lanes = inst.get_folded_output_shape(j)[-1]
            outputs.setdefault(f"out{j}", []).extend(
                pack_beats(ref[name], inst.get_output_datatype(j).bitwidth(), lanes))
    key = hashlib.sha256(model.model.SerializeToString()
                         + json.dumps([sim, seed, frames, lut_products]).encode()).hexdigest()[:12]
    work = sim_build_root() / "benches" / f"{node.name}-{sim}-{key}"
    name, _, files = emit_node(model, node, work)
    rtl = [f for f in files if f.suffix in (".v", ".sv")]
    total_beats = sum(map(len, inputs.values())) + sum(map(len, outputs.values()))
    spec = {"inputs": inputs, "outputs": outputs, "p_gap": p_gap, "p_stall": p_stall, "seed": seed,
            "max_cycles": max_cycles or 200 + 20 * total_beats + 4 * frames * _expected_cycles(inst)}
    spec["result"] = str(work / "result.json")
    spec_path = work / "spec.json"
    spec_path.write_text(json.dumps(spec))
    run_cocotb([*rtl, work / f"{name}.v"], name, "fqsr.sim.bench", sim=sim, seed=seed,
               extra_env={"FQSR_BENCH_SPEC": str(spec_path)}, test_dir=work,  # ROM files are in work
               lut_products=lut_products)
    cycles = json.loads((work / "result.json").read_text())["cycles"]
    return BenchResult(sum(map(len, inputs.values())), sum(map(len, outputs.values())), sim, cycles,
                       frames * _expected_cycles(inst))


def _expected_cycles(inst) -> int:
    """FINN's cycle estimate of one frame (compute-bound nodes take far more cycles than beats)."""
    try:
        return int(inst.get_exp_cycles())
    except Exception:  # noqa: BLE001 (not every op estimates; the beat count bound then applies)
        return 0


def dt_name(bits: int, signed: bool) -> str:
    return f"{'INT' if signed else 'UINT'}{bits}"

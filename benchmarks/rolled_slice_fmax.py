"""Fmax of ``rolled_system`` (engine + DMA + SDRAM controller + weight loader) with and without the register slices
between the engine and the DMA (benchmarks/rolled_edsr.md, "Register slices").

``after``: ``OUT/rolled`` as generated now (slices on rd, wr, w); ``before``: a copy of ``OUT`` whose
``rolled_system.v`` is written by ``system_text`` of commit a68cd72 (no slices), everything else equal. Both through
``rolled_engine.synthesize`` (synth_ecp5, nextpnr-ecp5 --85k, every port a pin).

    python benchmarks/rolled_engine.py --target-fps 0 --no-sim --out /tmp/slice
    python benchmarks/rolled_slice_fmax.py /tmp/slice after
    python benchmarks/rolled_slice_fmax.py /tmp/slice before
"""
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from rolled_engine import synthesize
from fqsr.flows.export import load_qonnx
from fqsr.hw import rolled as new

out = Path(sys.argv[1]); which = sys.argv[2]
if which == "before":
    src = subprocess.run(["git", "-C", str(Path(__file__).parent), "show", "a68cd72:hw/rolled.py"], capture_output=True,
                         text=True, check=True).stdout
    spec = importlib.util.spec_from_loader("fqsr.hw.rolled_before", loader=None)
    old = importlib.util.module_from_spec(spec); old.__package__ = "fqsr.hw"
    sys.modules[spec.name] = old  # its dataclasses look their module up
    exec(compile(src, "rolled_before.py", "exec"), old.__dict__)
    before = out.parent / (out.name + "_before"); shutil.rmtree(before, ignore_errors=True)
    shutil.copytree(out, before, ignore=shutil.ignore_patterns("rolled_synth"))
    rolled = before / "rolled"
    summary = json.loads((rolled / "rolled.json").read_text())
    engine = new.rolled_engine(load_qonnx(out / "dataflow.onnx"))
    (rolled / "rolled_system.v").write_text(old.system_text(engine, summary["sdram_layout"]))
    summary["system_sources"] = [s for s in summary["system_sources"] if s != "stream_register_slice.v"]
    (rolled / "rolled.json").write_text(json.dumps(summary))
else:
    rolled = out / "rolled"
print(json.dumps({which: synthesize(rolled, pnr=True, top="rolled_system")}))

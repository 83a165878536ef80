"""The artifact contract: a hand-edited, truncated or stale artifact is rebuilt or refused, never trusted."""
import json

import onnx
import pytest
from click.testing import CliRunner

from conftest import calibrated, small
from fqsr.flows.artifacts import (COMPILE_NAME, DATAFLOW_NAME, ONNX_NAME, RTL_DIRNAME, VERIFY_NAME, content_hash,
                                  record, require_current, why_stale)
from fqsr.apps.cli import main
from fqsr.flows.compile import compile_model
from fqsr.flows.export import export
from fqsr.hw.stitch import generate_rtl
from fqsr.models.errors import FqsrError
from fqsr.reports.report import NOT_RUN, build_report
from fqsr.sim.verify import _ensure_rtl, verify

TILE = (4, 5)


@pytest.fixture
def chain(tmp_path):
    """A small ESPCN exported, compiled and turned into RTL, every step recorded."""
    folder = tmp_path / "espcn_w4a4"
    model = calibrated(small("espcn_w4a4", features=4))
    export(model, tile=TILE, random_tiles=1, out_dir=folder)
    compile_model(folder / ONNX_NAME, folder, random_tiles=1, reference=model)
    generate_rtl(folder / DATAFLOW_NAME, folder)
    return folder, model


def test_every_stage_records_what_it_was_made_from(chain):
    folder, _ = chain
    records = json.loads((folder / "provenance.json").read_text())
    assert records[DATAFLOW_NAME]["inputs"] == {ONNX_NAME: content_hash(folder / ONNX_NAME)}
    assert records[RTL_DIRNAME]["inputs"] == {DATAFLOW_NAME: content_hash(folder / DATAFLOW_NAME)}
    assert records[RTL_DIRNAME]["sha256"] == content_hash(folder / RTL_DIRNAME)
    assert all(why_stale(folder, name) is None for name in (ONNX_NAME, DATAFLOW_NAME, COMPILE_NAME, RTL_DIRNAME))


def test_a_hand_edited_weight_in_the_dataflow_graph_is_refused(chain):
    folder, _ = chain
    graph = onnx.load(folder / DATAFLOW_NAME)
    weights = next(t for t in graph.graph.initializer if len(t.raw_data) > 4)
    raw = bytearray(weights.raw_data)
    raw[0] ^= 1
    weights.raw_data = bytes(raw)
    onnx.save(graph, folder / DATAFLOW_NAME)
    with pytest.raises(FqsrError, match=r"dataflow.onnx was changed after fqsr wrote it\); run `fqsr compile"):
        verify(folder, tiles=1)
    result = CliRunner().invoke(main, ["rtl", "espcn_w4a4", "--out-dir", str(folder)])
    assert result.exit_code == 2 and "run `fqsr compile espcn_w4a4` again" in result.output
    assert build_report(folder)["stages"]["compile"].startswith("stale: dataflow.onnx was changed")


def test_a_new_export_without_a_new_compile_is_refused(chain):
    folder, model = chain
    export(model, tile=(5, 4), random_tiles=1, out_dir=folder)  # another tile, no recompile
    with pytest.raises(FqsrError, match="made from another model.qonnx.onnx.*run `fqsr compile MODEL` again"):
        verify(folder, tiles=1)
    assert "made from another model.qonnx.onnx" in build_report(folder)["stages"]["rtl"]


def test_a_failed_recompile_leaves_nothing_to_trust(chain, tmp_path):
    folder, _ = chain
    (folder / "sim").mkdir()
    (folder / VERIFY_NAME).write_text(json.dumps({"equal": True, "mismatches": 0}))
    record(folder, VERIFY_NAME, inputs=[DATAFLOW_NAME, RTL_DIRNAME])  # as if verify had passed
    assert build_report(folder)["equal"]["verify"] is True
    bad = tmp_path / "folding.json"
    bad.write_text(json.dumps({"NoSuchNode_0": {"PE": 2}}))
    with pytest.raises(FqsrError):
        compile_model(folder / ONNX_NAME, folder, folding=bad)
    report = build_report(folder)
    assert report["stages"]["compile"] == NOT_RUN and report["equal"]["compile"] is None
    assert report["stages"]["verify"].startswith("stale:") and report["equal"]["verify"] is None


@pytest.mark.parametrize("victim", ["top.v", "*.mem"])
def test_a_truncated_rtl_file_is_rebuilt(chain, victim):
    folder, _ = chain
    path = sorted((folder / RTL_DIRNAME).glob(victim))[0]
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])
    assert why_stale(folder, RTL_DIRNAME) == f"{RTL_DIRNAME} was changed after fqsr wrote it"
    with pytest.raises(FqsrError, match="rtl cannot be trusted .*run `fqsr rtl MODEL` again"):
        require_current(folder, RTL_DIRNAME, "fqsr rtl MODEL")  # what synthesis and HIL do
    _ensure_rtl(folder, folder / DATAFLOW_NAME)  # what verify and build do: make it again
    assert path.read_bytes() == good and why_stale(folder, RTL_DIRNAME) is None


def test_a_users_own_graph_without_a_record_is_used_as_given(chain, tmp_path):
    folder, _ = chain
    user = tmp_path / "user"
    user.mkdir()
    (user / DATAFLOW_NAME).write_bytes((folder / DATAFLOW_NAME).read_bytes())
    summary = generate_rtl(user / DATAFLOW_NAME, user)
    assert summary["nodes"] > 0 and why_stale(user, RTL_DIRNAME) is None

"""Tile plans and the receptive-field halo: stitched tiles of a network equal the whole-image output exactly."""
import numpy as np
import pytest
import torch

from conftest import calibrated, small
from fqsr.flows.export import ONNX_NAME, export_qonnx_model, load_qonnx
from fqsr.flows.tiling import Tile, assemble, cut, plan_tiles, receptive_halo, tiles_per_image
from fqsr.models.errors import FqsrError
from fqsr.models.infer import integer_output


@pytest.mark.parametrize("h,w,tile,halo", [(32, 32, 32, 12), (33, 70, 32, 12), (100, 45, 32, 4), (19, 40, 12, 3),
                                           (12, 13, 12, 5), (50, 50, 9, 0), (26, 26, 24, 11)])
def test_cores_cover_every_pixel_once_and_tiles_stay_inside(h, w, tile, halo):
    tiles = plan_tiles(h, w, tile, tile, halo)
    assert len(tiles) == tiles_per_image(h, w, tile, tile, halo)
    count = np.zeros((h, w), np.int64)
    for t in tiles:
        assert 0 <= t.y <= h - tile and 0 <= t.x <= w - tile  # clamped inside the image
        count[t.core_slices()[0], t.core_slices()[1]] += 1
        # an inner core edge keeps a full halo to its tile's edge; at the image border the core reaches it
        for lo, hi, start, size, n in [(t.core_y0, t.core_y1, t.y, tile, h), (t.core_x0, t.core_x1, t.x, tile, w)]:
            assert start <= lo < hi <= start + size
            assert lo == 0 if lo - start < halo else lo - start >= halo
            assert hi == n if start + size - hi < halo else start + size - hi >= halo
    assert count.min() == 1 and count.max() == 1


def test_edge_tiles_start_exactly_at_the_image_edge():
    tiles = plan_tiles(70, 33, 32, 32, 12)
    assert {t.y for t in tiles} == {0, 8, 16, 24, 32, 38} and {t.x for t in tiles} == {0, 1}
    assert tiles[-1] == Tile(38, 1, 32, 32, 52, 70, 20, 33)
    assert tiles_per_image(256, 256, 48, 48, 12) == 10 * 10  # 1 + ceil((256 - 48) / 24) per axis


@pytest.mark.parametrize("h,w,tile,halo,words", [
    (20, 40, 32, 2, "height 20 is smaller than the compiled tile height 32"),
    (40, 31, 32, 2, "width 31 is smaller"),
    (40, 40, 32, 16, "leaves no core with a halo of 16"),
    (40, 40, 32, -1, "halo must be >= 0")])
def test_bad_plans_are_clear_errors(h, w, tile, halo, words):
    with pytest.raises(FqsrError, match=words):
        plan_tiles(h, w, tile, tile, halo)


def _export(cfg, folder, tile):
    model = calibrated(cfg)
    path = folder / ONNX_NAME
    export_qonnx_model(model, tile, path)
    return model, load_qonnx(path)


def _stitched(model, x, tile, halo, scale):
    """Brevitas integer output per tile crop, cores pasted together."""
    _, _, h, w = x.shape
    tiles = plan_tiles(h, w, tile, tile, halo)
    outs, _ = integer_output(model, torch.from_numpy(cut(x[0].numpy(), tiles)))  # all crops in one batch
    return assemble(tiles, outs, h, w, scale), len(tiles)


# name, config changes, halo: every 3x3 conv at LR adds 1, the HR tail conv adds ceil(1 / r) = 1, ESPCN's 5x5 adds 2
GRAPHS = [("tiny_w4a4", dict(features=4, blocks=1), 6), ("edsr_w4a4", dict(features=4, blocks=2, scale=4), 8),
          ("espcn_w4a4", dict(features=4), 4)]


@pytest.mark.parametrize("name,changes,halo", GRAPHS)
def test_halo_from_the_graph_is_the_true_receptive_field(tmp_path, name, changes, halo):
    cfg = small(name, **changes)
    model, graph = _export(cfg, tmp_path, (12, 12))
    assert receptive_halo(graph) == receptive_halo(tmp_path / ONNX_NAME) == halo
    torch.manual_seed(1)
    x = torch.randint(0, 256, (1, cfg.channels, 2 * halo + 48, 2 * halo + 47)).float() / 256
    whole = integer_output(model, x)[0][0]
    tile = 2 * halo + 5
    stitched, n = _stitched(model, x, tile, halo, cfg.scale)
    assert n > 4 and np.array_equal(stitched, whole)
    # one pixel less of halo is visibly wrong: the graph's receptive field is not overestimated either
    short, _ = _stitched(model, x, tile, halo - 1, cfg.scale)
    assert np.count_nonzero(short != whole) > 0


def test_a_missing_graph_is_a_clear_error(tmp_path):
    with pytest.raises(FqsrError, match="run `fqsr compile MODEL` first"):
        receptive_halo(tmp_path / "dataflow.onnx")

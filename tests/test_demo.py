"""fqsr demo's picture and its five-line summary."""
import imageio.v3 as iio
import numpy as np
from PIL import Image

from conftest import calibrated, small
from fqsr.apps.demo import _picture
from fqsr.apps.summary import demo_lines
from fqsr.reports.plots import detail_window


def test_detail_window_finds_where_the_images_differ_most():
    reference = np.zeros((40, 50, 3), np.uint8)
    candidate = reference.copy()
    candidate[21:27, 30:36] = 200
    y, x = detail_window(reference, candidate, 6)
    assert (y, x) == (21, 30)


def test_picture_shows_each_method_and_the_ground_truth(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("flat", "busy"):  # bicubic does worst on the busy one, so the picture shows it
        image = np.full((40, 40, 3), 90, np.uint8) if name == "flat" else rng.integers(0, 256, (40, 40, 3), np.uint8)
        Image.fromarray(image).save(folder / f"{name}.png")
    model = calibrated(small("tiny_w4a4", features=4, blocks=1))
    per_image = [{"image": "flat", "bicubic": {"psnr_y": 45.0}}, {"image": "busy", "bicubic": {"psnr_y": 12.0}}]
    picture = _picture(model.config, str(folder), per_image, {"quantized": model}, tmp_path)
    assert picture["image"] == "busy" and picture["detail"]["side"] == 16
    png = iio.imread(picture["path"])
    assert png.shape[:2] == (770, 1056)  # three columns (bicubic, quantized, ground truth), two rows, 110 dpi


def test_demo_summary_is_five_lines_with_the_scores_and_the_chain():
    report = {
        "model": "tiny_w4a4_mp", "model_dir": "build/tiny_w4a4_mp",
        "eval": {"data": "../shared/data/Set5", "scale": 2, "images": 5, "psnr_y_quant": 36.1055,
                 "psnr_y_float": 36.5890, "psnr_y_bicubic": 33.6734},
        "export": {"equal": True, "mismatches": 0, "elements": 36864, "tile": [32, 32]},
        "compile": {"equal": True, "mismatches": 0, "elements": 36864, "cycles_per_frame": 37748736, "fps": 5.298,
                    "clock_mhz": 200.0, "totals": {"lut": 38240, "bram18": 55}},
        "picture": {"path": "build/tiny_w4a4_mp/demo.png", "image": "butterfly"},
    }
    lines = demo_lines(report)
    assert len(lines) == 5
    assert "PSNR-Y quantized 36.105 dB, float twin 36.589 dB, bicubic 33.673 dB" in lines[0]
    assert "equal yes (0 of 36,864 and 0 of 36,864 elements differ" in lines[1]
    assert "37,748,736 cycles per tile" in lines[2] and "build/tiny_w4a4_mp/" in lines[3]
    assert "build/tiny_w4a4_mp/demo.png" in lines[4]
    report["compile"]["equal"], report["compile"]["mismatches"] = False, 3
    assert "equal NO (0 of 36,864 and 3 of 36,864" in demo_lines(report)[1]

"""Tests for MATLAB bicubic resizing, SR metrics and the data pipeline."""

from __future__ import annotations

import socket

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from fqsr.models.bicubic import downscale, imresize, upscale
from fqsr.models.data import (
    EMBEDDED_EVAL,
    FlatImages,
    PatchSampler,
    crop_to_multiple,
    eval_pairs,
    from_model,
    list_images,
    load_image,
    make_pair,
    shared_data_dir,
    to_model,
    y_uint8,
)
from fqsr.models.errors import FqsrError
from fqsr.models.metrics import psnr_y, rgb_to_y, ssim_y

# Keys cubic (a=-0.5) at offsets 1.75, 1.25, 0.75, 0.25: the response of
# MATLAB imresize(..., 2, 'bicubic') to a unit impulse, on either side of it.
UPSCALE_X2_IMPULSE = [-0.0234375, -0.0703125, 0.2265625, 0.8671875]

def _noise(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


# --- bicubic ------------------------------------------------------------------


@pytest.mark.parametrize("scale", [0.25, 1 / 3, 0.5, 2.0, 3.0, 4.0])
def test_constant_image_stays_constant(scale):
    img = np.full((13, 10, 3), 77, dtype=np.uint8)
    out = imresize(img, scale)
    assert out.dtype == np.uint8
    assert np.all(out == 77)
    assert np.allclose(imresize(img.astype(np.float64), scale), 77.0)


def test_output_size_is_ceil_of_scaled_size():
    assert downscale(_noise((10, 14, 3)), 2).shape == (5, 7, 3)
    assert imresize(_noise((7, 5)), 0.5).shape == (4, 3)
    assert downscale(_noise((288, 351, 3)), 3).shape == (96, 117, 3)
    assert upscale(_noise((5, 7, 3)), 4).shape == (20, 28, 3)


def test_upscale_impulse_response_matches_matlab_weights():
    column = np.zeros((9, 1))
    column[4] = 1.0
    out = imresize(column, 2.0)[:, 0]
    expected = UPSCALE_X2_IMPULSE + UPSCALE_X2_IMPULSE[::-1]
    np.testing.assert_allclose(out[5:13], expected, atol=1e-12)
    np.testing.assert_allclose(out[:5], 0, atol=1e-12)


def test_downscale_impulse_response_matches_matlab_antialiasing_weights():
    # Output row j (0-based) is centred on input row 2j + 0.5; the impulse sits
    # on row 8, at distances 3.5, 1.5, 0.5, 2.5 from output rows 2..5.  The
    # kernel is stretched by 2 and halved: 0.5 * cubic(0.5 * distance).
    column = np.zeros((16, 1))
    column[8] = 1.0
    out = imresize(column, 0.5)[:, 0]
    np.testing.assert_allclose(out[2:6], [-0.01171875, 0.11328125, 0.43359375, -0.03515625], atol=1e-12)
    np.testing.assert_allclose(np.delete(out, [2, 3, 4, 5]), 0, atol=1e-12)


@pytest.mark.parametrize("scale", [0.5, 1 / 3, 2.0, 3.0])
def test_linear_ramp_is_reproduced_away_from_borders(scale):
    """Keys cubic reproduces linear signals; output pixel j samples input x = (j + 0.5) / s - 0.5."""
    ramp = np.tile(3.0 * np.arange(48.0)[:, None] + 5.0, (1, 4))
    out = imresize(ramp, scale)[:, 0]
    centres = (np.arange(out.size) + 0.5) / scale - 0.5
    interior = (centres > 2 / min(scale, 1) + 1) & (centres < 48 - 2 / min(scale, 1) - 2)
    assert interior.sum() >= 8
    np.testing.assert_allclose(out[interior], 3.0 * centres[interior] + 5.0, atol=1e-9)


def test_uint8_output_is_rounded_and_clipped_float_is_not():
    edge = np.zeros((8, 8), dtype=np.uint8)
    edge[:, 4:] = 255
    up = imresize(edge.astype(np.float64), 2.0)
    assert up.min() < 0 and up.max() > 255  # cubic overshoot is kept for float input
    up8 = imresize(edge, 2.0)
    assert up8.dtype == np.uint8 and up8.min() == 0 and up8.max() == 255


# --- metrics -------------------------------------------------------------------


def test_rgb_to_y_matches_matlab_rgb2ycbcr():
    pixel = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [0, 0, 0]]], dtype=np.uint8)
    np.testing.assert_allclose(rgb_to_y(pixel)[0], [16 + 65.481, 16 + 128.553, 16 + 24.966, 235.0, 16.0])
    gray = _noise((4, 5, 1))
    np.testing.assert_array_equal(rgb_to_y(gray), gray[:, :, 0].astype(np.float64))


def test_psnr_of_identical_images_is_infinite():
    img = _noise((16, 16, 3))  # SSIM's 11-tap window needs >= 11 pixels after shaving
    assert psnr_y(img, img.copy(), 2) == float("inf")
    assert ssim_y(img, img.copy(), 2) == pytest.approx(1.0)


def test_psnr_of_known_perturbation_ignores_shaved_border():
    hr = np.full((12, 12, 3), 100, dtype=np.uint8)
    sr = hr.copy()
    sr[:, :, 1] += 1  # +1 on G shifts Y by 128.553 / 255 everywhere
    sr[:2] = 255  # inside the 2-pixel border that is shaved at scale 2
    # 20 * log10(255 / (128.553 / 255))
    assert psnr_y(sr, hr, 2) == pytest.approx(54.07996289560355, abs=1e-9)


def test_metrics_reject_mismatched_shapes():
    with pytest.raises(ValueError, match="differs"):
        psnr_y(_noise((10, 10, 3)), _noise((10, 12, 3)), 2)


def test_bicubic_x2_on_set5_matches_published_psnr():
    """The literature's bicubic baseline: Set5 x2 PSNR-Y 33.66 dB."""
    data_dir = shared_data_dir()
    if data_dir is None:
        pytest.skip("shared benchmark data folder is absent")
    pairs = eval_pairs(data_dir / "Set5", 2)
    assert len(pairs) == 5
    mean_psnr = np.mean([psnr_y(upscale(lr, 2), hr, 2) for _, lr, hr in pairs])
    assert mean_psnr == pytest.approx(33.66, abs=0.02)


# --- loading ---------------------------------------------------------------------


def test_embedded_eval_set_loads_without_network(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("the embedded data set must not touch the network")

    monkeypatch.setattr(socket, "socket", no_network)
    images = list_images("embedded:eval")
    assert [name for name, _ in images] == list(EMBEDDED_EVAL) and len(images) == 4
    for _, img in images:
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    assert [name for name, _ in list_images("embedded")] == list(EMBEDDED_EVAL)


def test_load_image_normalises_gray_and_rgba(tmp_path):
    gray = _noise((6, 7))
    iio.imwrite(tmp_path / "gray.png", gray)
    loaded = load_image(tmp_path / "gray.png")
    assert loaded.shape == (6, 7, 3) and np.all(loaded == gray[:, :, None])
    assert load_image(tmp_path / "gray.png", keep_gray=True).shape == (6, 7, 1)
    rgba = _noise((6, 7, 4))
    iio.imwrite(tmp_path / "rgba.png", rgba)
    np.testing.assert_array_equal(load_image(tmp_path / "rgba.png"), rgba[:, :, :3])


def test_corrupt_file_raises_fqsr_error_naming_it(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"this is not a PNG")
    with pytest.raises(FqsrError, match="broken.png"):
        load_image(bad)
    with pytest.raises(FqsrError, match="missing.png"):
        load_image(tmp_path / "missing.png")


def test_list_images_reads_sorted_images_and_rejects_missing_or_empty_folders(tmp_path):
    for name in ("b", "a"):
        iio.imwrite(tmp_path / f"{name}.png", _noise((4, 4, 3)))
    (tmp_path / "notes.txt").write_text("not an image")
    assert [name for name, _ in list_images(tmp_path)] == ["a", "b"]
    with pytest.raises(FqsrError, match="does not exist"):
        list_images(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FqsrError, match="no .png"):
        list_images(tmp_path / "empty")


# --- pairs, patches, tensors ---------------------------------------------------------


def test_make_pair_crops_to_multiple_of_scale():
    hr = _noise((31, 26, 3))
    assert crop_to_multiple(hr, 4).shape == (28, 24, 3)
    lr, cropped = make_pair(hr, 4)
    assert lr.shape == (7, 6, 3) and cropped.shape == (28, 24, 3)
    np.testing.assert_array_equal(cropped, hr[:28, :24])


def test_y_only_pairs_round_the_luma_of_each_rgb_image(tmp_path):
    hr = _noise((20, 24, 3))
    iio.imwrite(tmp_path / "img.png", hr)
    (_, lr_y, hr_y), = eval_pairs(tmp_path, 2, channels=1)
    lr_rgb, _ = make_pair(hr, 2)
    assert lr_y.shape == (10, 12, 1) and hr_y.shape == (20, 24, 1)
    np.testing.assert_array_equal(hr_y, y_uint8(hr))
    np.testing.assert_array_equal(lr_y, y_uint8(lr_rgb))


def _dihedral_variants(patch):
    """All 8 flips/rotations of an HxWxC patch, in a fixed order."""
    variants = []
    for k in range(4):
        rotated = np.rot90(patch, k, axes=(0, 1))
        variants += [rotated, rotated[:, ::-1]]
    return variants


def _locate(lr_patch, hr_patch, lr_full, hr_full, scale):
    """Positions (y, x, variant) where both patches are the same transform of aligned crops."""
    size = lr_patch.shape[0]
    hits = []
    for y in range(lr_full.shape[0] - size + 1):
        for x in range(lr_full.shape[1] - size + 1):
            lr_crop = lr_full[y : y + size, x : x + size]
            hr_crop = hr_full[y * scale : (y + size) * scale, x * scale : (x + size) * scale]
            for v, (lr_v, hr_v) in enumerate(zip(_dihedral_variants(lr_crop), _dihedral_variants(hr_crop))):
                if np.array_equal(lr_v, lr_patch) and np.array_equal(hr_v, hr_patch):
                    hits.append((y, x, v))
    return hits


def test_patch_sampler_returns_aligned_augmented_crops():
    scale, size = 2, 6
    sampler = PatchSampler([_noise((40, 36, 3))], scale)
    lr, hr = sampler.sample(16, size, np.random.default_rng(1))
    assert lr.shape == (16, 3, size, size) and hr.shape == (16, 3, size * scale, size * scale)
    assert lr.dtype == np.float32 and hr.dtype == np.float32
    assert lr.min() >= 0 and hr.max() <= 255 / 256
    np.testing.assert_array_equal(hr * 256, np.round(hr * 256))  # exact k / 256 values
    lr_full, hr_full = sampler.pairs[0]
    variants = set()
    for lr_patch, hr_patch in zip(lr, hr):
        to_uint8 = lambda t: np.round(t.transpose(1, 2, 0) * 256).astype(np.uint8)  # noqa: E731
        hits = _locate(to_uint8(lr_patch), to_uint8(hr_patch), lr_full, hr_full, scale)
        assert hits, "an LR patch does not match the aligned crop of the precomputed LR image"
        variants.add(hits[0][2])
    assert len(variants) > 2  # flips and rotations are applied


@pytest.mark.parametrize("channels", [1, 3])
def test_flat_image_cache_cuts_the_same_crops_as_slicing(channels):
    """One gather over the flat buffer == slicing each image, then flipping and transposing it."""
    images = [_noise((9, 14, channels), seed=1), _noise((12, 7, channels), seed=2), _noise((6, 6, channels), seed=3)]
    cache = FlatImages(images)
    for image, view in zip(images, cache.images):
        np.testing.assert_array_equal(view, image)
        assert np.shares_memory(view, cache.buffer)  # the pairs a sampler keeps are no second copy
    rng = np.random.default_rng(0)
    size, batch = 5, 64
    index = rng.integers(0, 3, batch)
    y = rng.integers(0, cache.shapes[index, 0] - size + 1)
    x = rng.integers(0, cache.shapes[index, 1] - size + 1)
    hflip, vflip, transpose = rng.random((3, batch)) < 0.5
    crops = cache.crops(index, y, x, size, hflip, vflip, transpose)
    assert crops.shape == (batch, size, size, channels) and crops.dtype == np.uint8
    for n in range(batch):
        want = images[index[n]][y[n] : y[n] + size, x[n] : x[n] + size]
        want = want[:, ::-1] if hflip[n] else want
        want = want[::-1] if vflip[n] else want
        want = want.transpose(1, 0, 2) if transpose[n] else want
        np.testing.assert_array_equal(crops[n], want, err_msg=f"crop {n}")


def test_patch_sampler_reaches_every_position_and_symmetry():
    """Crops are uniform over positions: on a small image every position and all 8 symmetries turn up."""
    image = _noise((16, 12, 3))
    sampler = PatchSampler([image], 2)
    lr_full, hr_full = sampler.pairs[0]
    lr, hr = sampler.sample(400, 4, np.random.default_rng(3))
    to_uint8 = lambda t: np.round(t.transpose(1, 2, 0) * 256).astype(np.uint8)  # noqa: E731
    found = {hit for lr_patch, hr_patch in zip(lr, hr)
             for hit in _locate(to_uint8(lr_patch), to_uint8(hr_patch), lr_full, hr_full, 2)[:1]}
    assert {(y, x) for y, x, _ in found} == {(y, x) for y in range(5) for x in range(3)}
    assert {v for _, _, v in found} == set(range(8))


def test_patch_sampler_y_channel_and_size_checks():
    sampler = PatchSampler([_noise((40, 36, 3)), _noise((8, 8, 3))], 4, channels=1)
    lr, hr = sampler.sample(4, 5, np.random.default_rng(0))
    assert lr.shape == (4, 1, 5, 5) and hr.shape == (4, 1, 20, 20)
    with pytest.raises(FqsrError, match="large enough"):
        sampler.sample(1, 20, np.random.default_rng(0))
    with pytest.raises(FqsrError):
        PatchSampler([], 2)


def test_model_tensors_map_pixels_to_k_over_256_exactly():
    img = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, axis=2)
    tensor = to_model(img)
    assert tensor.shape == (1, 3, 16, 16) and tensor.dtype == torch.float32
    assert float(tensor.max()) == 255 / 256
    np.testing.assert_array_equal(from_model(tensor), img)
    assert from_model(torch.tensor([[[[-0.5, 2.0]]]])).tolist() == [[[0], [255]]]

"""Images, LR/HR pairs and training patches for super-resolution.

Conventions follow the SR literature so our PSNRs compare with published ones:
HR images are cropped to a multiple of the scale, LR images are made with
MATLAB-compatible bicubic downscaling, and Y-only models see MATLAB's
``rgb2ycbcr`` luma rounded to uint8.  Model tensors hold ``pixel / 256`` (not
/255) so that an unsigned 8-bit quantizer with scale 2^-8 represents every
input pixel exactly.
"""

from __future__ import annotations

import os
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import skimage.data
import torch

from fqsr.models.bicubic import downscale, round_to_uint8_range
from fqsr.models.errors import FqsrError
from fqsr.models.metrics import SSIM_WINDOW, min_eval_side, rgb_to_y

PIXEL_SCALE = 256.0
"""uint8 value k is fed to models as k / 256 (exact under an 8-bit, 2^-8 quantizer)."""

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")

EMBEDDED_EVAL = ("astronaut", "chelsea", "coffee", "rocket")
"""Real colour photographs shipped inside scikit-image, used as a tiny eval set."""

EMBEDDED_TRAIN = (
    "motorcycle_left",
    "motorcycle_right",
    "hubble_deep_field",
    "ihc",
    "retina",
    "camera",
    "brick",
    "grass",
    "gravel",
    "moon",
    "coins",
)
"""The other real photographs scikit-image ships on disk (no synthetic charts, no text)."""

EMBEDDED_SOURCES = {
    "embedded": EMBEDDED_EVAL,
    "embedded:eval": EMBEDDED_EVAL,
    "embedded:train": EMBEDDED_TRAIN,
}

EvalSet = list[tuple[str, np.ndarray, np.ndarray]]
"""``(name, lr_uint8, hr_uint8)`` triples, as returned by :func:`eval_pairs`."""


# --- loading -----------------------------------------------------------------


def load_image(path: str | os.PathLike, keep_gray: bool = False) -> np.ndarray:
    """Read an image file as uint8 HxWx3 RGB (gray is replicated, alpha dropped).

    ``keep_gray=True`` returns gray files as HxWx1 instead: the MATLAB scripts
    behind published Y-channel PSNRs use a gray image itself as Y rather than
    passing it through ``rgb2ycbcr`` (which would squeeze it into 16..235).
    """
    path = Path(path)
    try:
        img = np.asarray(iio.imread(path))
    except (OSError, ValueError, RuntimeError, SyntaxError, EOFError) as exc:
        raise FqsrError(f"Cannot read image file {path}: {exc}".splitlines()[0]) from exc
    img = _as_uint8_hwc(img, path)
    return img if keep_gray else as_rgb(img)


def as_rgb(img: np.ndarray) -> np.ndarray:
    """HxWx1 gray -> HxWx3 by replication; HxWx3 is returned unchanged."""
    return np.ascontiguousarray(np.broadcast_to(img, img.shape[:2] + (3,)))


def _as_uint8_hwc(img: np.ndarray, path: Path) -> np.ndarray:
    """Decoded array -> uint8 HxWx1 (gray) or HxWx3 (colour), alpha dropped.

    Rejects what is not one still 8/16-bit image with a user-facing error.
    """
    if img.dtype == np.uint16:
        img = round_to_uint8_range(img / 257.0).astype(np.uint8)
    if img.dtype != np.uint8:
        raise FqsrError(f"Image file {path} has pixel type {img.dtype}; only 8/16-bit images are supported.")
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3 or img.shape[2] not in (1, 2, 3, 4):
        raise FqsrError(f"Image file {path} is not a single still image (array shape {img.shape}).")
    return img[:, :, :3] if img.shape[2] >= 3 else img[:, :, :1]


def _embedded_path(name: str) -> Path:
    """Path of a photograph bundled with scikit-image (never fetched from the network)."""
    data_dir = Path(skimage.data.data_dir)
    for suffix in (".png", ".jpg"):
        candidate = data_dir / f"{name}{suffix}"
        if candidate.is_file():
            return candidate
    raise FqsrError(f"Embedded image {name!r} is missing from scikit-image's data folder {data_dir}.")


def _directory_images(directory: Path) -> list[Path]:
    """Image files directly inside ``directory``, sorted by name."""
    if not directory.is_dir():
        raise FqsrError(f"Image folder {directory} does not exist.")
    files = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FqsrError(f"Image folder {directory} contains no .png/.jpg/.jpeg/.bmp/.tif images.")
    return files


def list_images(source: str | os.PathLike, keep_gray: bool = False) -> list[tuple[str, np.ndarray]]:
    """Load ``(name, uint8 HxWx3)`` for every image of a folder or embedded set.

    ``source`` is a directory (non-recursive) or ``"embedded:train"``,
    ``"embedded:eval"`` or ``"embedded"`` (= eval).  ``keep_gray`` is passed
    to :func:`load_image`.
    """
    if isinstance(source, str) and source in EMBEDDED_SOURCES:
        paths = [_embedded_path(name) for name in EMBEDDED_SOURCES[source]]
    else:
        paths = _directory_images(Path(source))
    return [(path.stem, load_image(path, keep_gray)) for path in paths]


def shared_data_dir() -> Path | None:
    """The optional benchmark-data folder (Set5, Set14, ...), or None if absent.

    ``$FQSR_DATA`` wins; otherwise ``../shared/data`` from the working directory (a checkout's root).
    """
    configured = os.environ.get("FQSR_DATA")
    candidate = Path(configured) if configured else Path.cwd().parent / "shared" / "data"
    return candidate if candidate.is_dir() else None


# --- LR/HR pairs ----------------------------------------------------------------


def crop_to_multiple(hr: np.ndarray, scale: int) -> np.ndarray:
    """Crop bottom/right so height and width are multiples of ``scale`` (SR "modcrop")."""
    height, width = hr.shape[:2]
    return hr[: height - height % scale, : width - width % scale]


def make_pair(hr: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """``(lr, cropped hr)`` with LR made by MATLAB bicubic downscaling."""
    hr = crop_to_multiple(hr, scale)
    return downscale(hr, scale), hr


def y_uint8(img: np.ndarray) -> np.ndarray:
    """MATLAB ``rgb2ycbcr`` luma rounded to uint8, with a trailing channel axis of 1."""
    return round_to_uint8_range(rgb_to_y(img)).astype(np.uint8)[:, :, None]


def _select_channels(img: np.ndarray, channels: int) -> np.ndarray:
    """RGB for ``channels=3``; rounded Y as HxWx1 for ``channels=1`` (gray HxWx1 is its own Y)."""
    if channels == 3:
        return as_rgb(img)
    if channels == 1:
        return y_uint8(img)
    raise FqsrError(f"Unsupported channel count {channels}; use 1 (Y) or 3 (RGB).")


def _center_crop(img: np.ndarray, side: int) -> np.ndarray:
    h, w = img.shape[:2]
    top, left = max(0, (h - side) // 2), max(0, (w - side) // 2)
    return img[top:top + side, left:left + side]


def _make_channel_pair(hr: np.ndarray, scale: int, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """LR/HR pair in the requested channels; Y of LR is taken from the LR RGB."""
    lr, hr = make_pair(hr, scale)
    return _select_channels(lr, channels), _select_channels(hr, channels)


def eval_pairs(source: str | os.PathLike, scale: int, channels: int = 3, crop: int | None = None) -> EvalSet:
    """``(name, lr_uint8, hr_uint8)`` for every image of ``source`` (see :func:`list_images`).

    With ``channels=1`` a gray file's own pixels are its Y, as in the MATLAB
    evaluation scripts, so Y-only PSNRs match published tables. With ``crop``, each HR
    image is first cut to its central ``crop`` x ``crop`` pixels (at most the image).
    """
    images = list_images(source, keep_gray=channels == 1)
    need = min_eval_side(scale)
    if crop is not None:
        if crop < need:
            raise FqsrError(f"a {crop}-pixel crop is too small for x{scale} evaluation; use at least {need}")
        images = [(name, _center_crop(hr, crop)) for name, hr in images]
    for name, hr in images:
        if min(hr.shape[:2]) < need:
            raise FqsrError(f"image {name} of {source} is {hr.shape[1]}x{hr.shape[0]} pixels; x{scale} evaluation "
                            f"needs at least {need}x{need} (SSIM's {SSIM_WINDOW}-pixel window after shaving {scale} "
                            f"pixels per border)")
    return [(name, *_make_channel_pair(hr, scale, channels)) for name, hr in images]


# --- training patches ----------------------------------------------------------------


class FlatImages:
    """Images of any sizes in one flat uint8 buffer, cropped many at a time by one gather.

    Each image is decoded (and downscaled) once; a batch of crops with flips and
    transpositions is then a single fancy index over the buffer, computed with
    numpy broadcasting: no Python per patch or per pixel, and no copy of
    overlapping tiles.
    """

    def __init__(self, images: list[np.ndarray]):
        self.channels = images[0].shape[2]
        self.shapes = np.array([img.shape[:2] for img in images], dtype=np.int64)
        sizes = [img.size for img in images]
        self.starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self.buffer = np.concatenate([img.ravel() for img in images])
        self.pixels = self.buffer.reshape(-1, self.channels)  # one row per pixel: a gather moves C bytes at once
        self.images = [self.buffer[a : a + n].reshape(img.shape) for a, n, img in zip(self.starts, sizes, images)]

    def crops(self, index, y, x, size: int, hflip, vflip, transpose) -> np.ndarray:
        """``(B, size, size, C)`` uint8 crops of images ``index`` at ``(y, x)``, each flipped and transposed as asked.

        Output pixel (i, j) reads the crop's row r(i) and column c(j), which count
        backwards under a vertical or horizontal flip; a transposed crop swaps i and j.
        """
        k = np.arange(size)
        rows = np.where(vflip[:, None], size - 1 - k, k) + y[:, None]  # (B, size)
        cols = np.where(hflip[:, None], size - 1 - k, k) + x[:, None]
        row_starts = self.starts[index][:, None] // self.channels + rows * self.shapes[index, 1][:, None]
        pixel = np.empty((len(index), size, size), dtype=np.int64)  # pixel numbers in the buffer
        kept = ~transpose
        pixel[kept] = row_starts[kept][:, :, None] + cols[kept][:, None, :]
        pixel[transpose] = row_starts[transpose][:, None, :] + cols[transpose][:, :, None]
        return np.take(self.pixels, pixel, axis=0)


def _to_nchw_float(patches: np.ndarray) -> np.ndarray:
    """BxHxWxC uint8 -> float32 NCHW view of ``pixel / 256`` (channels-last in memory, as torch likes it)."""
    return (patches.astype(np.float32) * np.float32(1 / PIXEL_SCALE)).transpose(0, 3, 1, 2)  # exact: 2**-8


class PatchSampler:
    """Random aligned LR/HR training patches with flip/rotation augmentation.

    LR images are computed once here, from whole HR images, so a patch sees
    the same bicubic borders as full-image inference rather than the artefacts
    of downscaling a small crop. A batch picks images uniformly, then a crop
    position uniformly in each, and one of the 8 square symmetries; LR and HR
    are cut from :class:`FlatImages` caches in one gather each.
    """

    def __init__(self, images: list[np.ndarray], scale: int, channels: int = 3):
        if not images:
            raise FqsrError("No training images were given to the patch sampler.")
        self.scale = scale
        self.channels = channels
        pairs = [_make_channel_pair(hr, scale, channels) for hr in images]
        self.lr_cache = FlatImages([lr for lr, _ in pairs])
        self.hr_cache = FlatImages([hr for _, hr in pairs])
        self.pairs = list(zip(self.lr_cache.images, self.hr_cache.images))  # views into the caches

    def _eligible(self, lr_patch: int) -> np.ndarray:
        """Indices of the pairs whose LR image is at least ``lr_patch`` pixels in both directions."""
        fitting = np.flatnonzero(self.lr_cache.shapes.min(axis=1) >= lr_patch)
        if not len(fitting):
            raise FqsrError(f"No training image is large enough for a {lr_patch}x{lr_patch} LR patch.")
        return fitting

    def sample(self, batch: int, lr_patch: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``(lr, hr)`` float32 NCHW batches of values ``pixel / 256``."""
        eligible = self._eligible(lr_patch)
        index = eligible[rng.integers(0, len(eligible), size=batch)]
        height, width = self.lr_cache.shapes[index].T
        y = rng.integers(0, height - lr_patch + 1)
        x = rng.integers(0, width - lr_patch + 1)
        hflip, vflip, transpose = rng.random((3, batch)) < 0.5
        s = self.scale
        lr = self.lr_cache.crops(index, y, x, lr_patch, hflip, vflip, transpose)
        hr = self.hr_cache.crops(index, y * s, x * s, lr_patch * s, hflip, vflip, transpose)
        return _to_nchw_float(lr), _to_nchw_float(hr)


# --- model tensors ----------------------------------------------------------------


def to_model(img: np.ndarray) -> torch.Tensor:
    """uint8 HxWxC image -> float32 1xCxHxW tensor of ``pixel / 256``."""
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float().unsqueeze(0) / PIXEL_SCALE


def from_model(tensor: torch.Tensor) -> np.ndarray:
    """float 1xCxHxW tensor -> uint8 HxWxC image, ``clip(round(y * 256), 0, 255)``."""
    pixels = torch.round(tensor.detach().cpu().float() * PIXEL_SCALE).clamp(0, 255)
    return pixels.to(torch.uint8)[0].permute(1, 2, 0).numpy()

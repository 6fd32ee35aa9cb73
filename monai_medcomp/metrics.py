"""Quality and size figures of a reconstruction: PSNR, SSIM, MS-SSIM, max error, bpp, ratio, space saving.

Arrays follow the :class:`~monai_medcomp.volume.Volume` layout, ``(slices, rows, cols)`` or
``(slices, rows, cols, 3)``; a 2D array is one slice.  Every quality figure is computed per slice
(``per_slice=True`` returns one value per slice) and pooled over all slices for the volume:

* errors are taken in int64/float64, so signed data never wraps;
* the peak (PSNR) and the data range (SSIM) are those of the true bit depth, ``2**bits_stored - 1``,
  so a 12-bit CT is not flattered by a 16-bit peak; ``peak=255`` gives the 8-bit form found in papers;
* RGB figures are computed per channel and averaged (for PSNR the channel MSEs are averaged, which
  keeps one exact channel from making the result infinite);
* a volume's PSNR comes from the MSE over all its voxels, its SSIM and MS-SSIM are the means of the
  slices' values, its max error the largest of any slice;
* :func:`windowed_psnr` is the PSNR of what a viewer shows in a display window (rescaled values clipped to
  it, the window's width the peak): on CT the full-depth peak flatters (``docs/quality.md``), and
  :mod:`.figures` reports both, with the errors in HU.

SSIM is eq. 4 of the paper (Wang et al. 2004): Gaussian window 11x11, sigma 1.5, k1 = 0.01,
k2 = 0.03, the SSIM map averaged over the valid (unpadded) window positions, computed with MONAI's
``compute_ssim_and_cs`` in float32.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from .errors import UnsupportedDataError
from .volume import Volume

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
SLICES_PER_BATCH = 8  # bounds the memory of the SSIM filter maps on large volumes


def _as_slices(array: np.ndarray) -> np.ndarray:
    """View ``array`` as ``(slices, channels, rows, cols)``."""
    array = np.asarray(array)
    if array.ndim == 2:
        return array[np.newaxis, np.newaxis]
    if array.ndim == 3:
        return array[:, np.newaxis]
    if array.ndim == 4:
        return np.moveaxis(array, -1, 1)
    raise UnsupportedDataError(f"cannot measure an array of shape {array.shape}: expected (rows, cols), "
                               "(slices, rows, cols) or (slices, rows, cols, channels)")


def _pair(original: np.ndarray, reconstruction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    original, reconstruction = np.asarray(original), np.asarray(reconstruction)
    if original.shape != reconstruction.shape:
        raise UnsupportedDataError(f"reconstruction shape {reconstruction.shape} differs from the original's "
                                   f"{original.shape}")
    return _as_slices(original), _as_slices(reconstruction)


def peak_value(original: np.ndarray, bits_stored: int | None = None) -> int:
    """``2**bits - 1`` for the true bit depth; without ``bits_stored``, the bit depth of the integer dtype."""
    if bits_stored is None:
        dtype = np.asarray(original).dtype
        if dtype.kind not in "iu":
            raise UnsupportedDataError(f"give bits_stored (or the peak) to measure {dtype.name} data")
        bits_stored = dtype.itemsize * 8
    return (1 << int(bits_stored)) - 1


def _differences(original: np.ndarray, reconstruction: np.ndarray):
    """``original - reconstruction`` slice by slice, in int64 for integers (float64 otherwise), never wrapping.

    One slice at a time: 64-bit copies of a whole volume would be large.
    """
    a, b = _pair(original, reconstruction)
    exact = np.int64 if a.dtype.kind in "iu" and b.dtype.kind in "iu" else np.float64
    for index in range(a.shape[0]):
        yield a[index].astype(exact) - b[index].astype(exact)


def _per_slice_squared_error(original: np.ndarray, reconstruction: np.ndarray) -> np.ndarray:
    """Mean squared error of each slice (all channels pooled)."""
    return np.array([float(np.square(diff).sum()) / diff.size for diff in _differences(original, reconstruction)])


def _finish(values: np.ndarray, per_slice: bool, pool) -> Any:
    return values if per_slice else pool(values)


def max_abs_error(original: np.ndarray, reconstruction: np.ndarray, *, per_slice: bool = False) -> Any:
    """Largest ``|original - reconstruction|`` (an int for integer data; an array per slice)."""
    values = np.array([np.abs(diff).max() for diff in _differences(original, reconstruction)])
    return _finish(values, per_slice, lambda v: v.max().item())


def mse(original: np.ndarray, reconstruction: np.ndarray, *, per_slice: bool = False) -> Any:
    """Mean squared error over all voxels (and channels)."""
    return _finish(_per_slice_squared_error(original, reconstruction), per_slice, lambda v: float(v.mean()))


def psnr_from_mse(mean_squared_error: Any, peak: float) -> Any:
    """``10 log10(peak**2 / MSE)`` in dB; infinite where the MSE is zero."""
    with np.errstate(divide="ignore"):
        values = 10.0 * np.log10(float(peak) ** 2 / np.asarray(mean_squared_error, dtype=np.float64))
    return values if np.ndim(values) else float(values)


def psnr(original: np.ndarray, reconstruction: np.ndarray, *, bits_stored: int | None = None,
         peak: float | None = None, per_slice: bool = False) -> Any:
    """PSNR in dB with the peak of the true bit depth (``peak`` overrides it, e.g. 255); inf when identical."""
    peak = peak_value(original, bits_stored) if peak is None else peak
    errors = _per_slice_squared_error(original, reconstruction)
    return psnr_from_mse(errors if per_slice else errors.mean(), peak)


def rmse(original: np.ndarray, reconstruction: np.ndarray, *, per_slice: bool = False) -> Any:
    """Root mean squared error over all voxels (and channels), in stored units."""
    values = np.sqrt(_per_slice_squared_error(original, reconstruction))
    return values if per_slice else float(np.sqrt(np.square(values).mean()))


def share_above(original: np.ndarray, reconstruction: np.ndarray, threshold: float) -> float:
    """The share of voxels (and channels) whose ``|original - reconstruction|`` exceeds ``threshold``, 0 to 1.

    A mean error hides where the error goes: 1 % of pixels off by 100 HU and every pixel off by 10 HU can
    have the same RMSE, and only the first shows as lesions that are not there."""
    above = total = 0
    for diff in _differences(original, reconstruction):
        above += int(np.count_nonzero(np.abs(diff) > threshold))
        total += diff.size
    return above / total


def windowed_psnr(original: np.ndarray, reconstruction: np.ndarray, low: float, high: float, *,
                  slope: float = 1.0, intercept: float = 0.0, per_slice: bool = False) -> Any:
    """PSNR of what a viewer shows in the window ``[low, high]``: both images rescaled (``x slope + intercept``,
    e.g. to HU), clipped to the window, and the peak the window's width.

    This is the PSNR of the displayed grey levels before their rounding to 8 bits: errors outside the window
    are invisible and count for nothing, errors inside count against the window's contrast, not against the
    full bit depth (see ``docs/quality.md``)."""
    a, b = _pair(original, reconstruction)
    errors = np.array([float(np.square(np.clip(a[i] * slope + intercept, low, high)
                                       - np.clip(b[i] * slope + intercept, low, high)).mean())
                       for i in range(a.shape[0])])
    return psnr_from_mse(errors if per_slice else errors.mean(), high - low)


def _batches(a: np.ndarray, b: np.ndarray):
    """Pairs of float tensors ``(slices * channels, 1, rows, cols)``, a few slices at a time."""
    import torch

    for start in range(0, a.shape[0], SLICES_PER_BATCH):
        x, y = (torch.from_numpy(np.ascontiguousarray(v[start:start + SLICES_PER_BATCH], dtype=np.float32))
                for v in (a, b))
        yield x.reshape(-1, 1, *x.shape[2:]), y.reshape(-1, 1, *y.shape[2:])


def _per_slice_channel_mean(values: Any, slices: int) -> np.ndarray:
    """Average one value per (slice, channel) over the channels."""
    return values.reshape(slices, -1).mean(dim=1).double().numpy()


def _per_slice_structure(a: np.ndarray, b: np.ndarray, compute: Callable[[Any, Any], Any]) -> np.ndarray:
    """One value per slice of ``compute(reconstruction, original)`` over batches of float tensors.

    torch and MONAI are imported by the callers on first use, not with this module: every
    ``medcomp`` command imports the metrics through rate control, and MONAI takes seconds to load.
    """
    import torch

    parts = []
    with torch.no_grad():
        for x, y in _batches(a, b):
            parts.append(_per_slice_channel_mean(compute(y, x), len(x) // a.shape[1]))
    return np.concatenate(parts)


def _data_range(original: np.ndarray, bits_stored: int | None, data_range: float | None) -> float:
    return float(peak_value(original, bits_stored) if data_range is None else data_range)


def ssim(original: np.ndarray, reconstruction: np.ndarray, *, bits_stored: int | None = None,
         data_range: float | None = None, per_slice: bool = False) -> Any:
    """Mean SSIM (2D, per slice and channel, then averaged); NaN for slices smaller than the 11x11 window."""
    a, b = _pair(original, reconstruction)
    value_range = _data_range(original, bits_stored, data_range)
    if min(a.shape[2:]) < SSIM_WINDOW:
        values = np.full(a.shape[0], np.nan)
    else:
        from monai.metrics.regression import compute_ssim_and_cs

        values = _per_slice_structure(a, b, lambda y, x: compute_ssim_and_cs(
            y, x, spatial_dims=2, kernel_size=(SSIM_WINDOW,) * 2, kernel_sigma=(SSIM_SIGMA,) * 2,
            data_range=value_range, k1=SSIM_K1, k2=SSIM_K2)[0])
    return _finish(values, per_slice, lambda v: float(v.mean()))


def ms_ssim_scales(rows: int, cols: int) -> int:
    """How many of the 5 MS-SSIM scales an image of this size supports (0: smaller than one window).

    Each scale halves the image and must still hold the 11x11 window; MONAI also insists that
    ``size // (scales - 1)**2 > 10``.  Images below 176 pixels a side get fewer scales (the first
    weights, renormalised to sum to one); one scale is plain SSIM clipped at zero.
    """
    size = min(rows, cols)
    for scales in range(len(MS_SSIM_WEIGHTS), 0, -1):
        fits_window = size >> (scales - 1) >= SSIM_WINDOW
        fits_monai = size // max(1, scales - 1) ** 2 > SSIM_WINDOW - 1
        if fits_window and fits_monai:
            return scales
    return 0


def ms_ssim(original: np.ndarray, reconstruction: np.ndarray, *, bits_stored: int | None = None,
            data_range: float | None = None, per_slice: bool = False) -> Any:
    """MS-SSIM (Wang et al. 2003) with MONAI, per slice and channel then averaged.

    Slices too small for five scales use fewer (see :func:`ms_ssim_scales`); slices smaller than
    the 11x11 window give NaN.
    """
    a, b = _pair(original, reconstruction)
    value_range = _data_range(original, bits_stored, data_range)
    scales = ms_ssim_scales(*a.shape[2:])
    if scales == 0:
        values = np.full(a.shape[0], np.nan)
    else:
        weights = np.asarray(MS_SSIM_WEIGHTS[:scales])
        weights = tuple(float(w) for w in weights / weights.sum())
        from monai.metrics.regression import compute_ms_ssim

        values = _per_slice_structure(a, b, lambda y, x: compute_ms_ssim(
            y, x, spatial_dims=2, data_range=value_range, kernel_size=SSIM_WINDOW, kernel_sigma=SSIM_SIGMA,
            k1=SSIM_K1, k2=SSIM_K2, weights=weights))
    return _finish(values, per_slice, lambda v: float(v.mean()))


def num_pixels(shape: Sequence[int]) -> int:
    """Pixels of an array in the Volume layout: an RGB pixel counts once, not three times."""
    shape = tuple(shape)
    if len(shape) == 4:
        shape = shape[:3]
    return int(np.prod(shape))


def bits_per_pixel(compressed_nbytes: int, shape: Sequence[int]) -> float:
    """File bytes x 8 / pixels."""
    return compressed_nbytes * 8 / num_pixels(shape)


def compression_ratio(original_nbytes: int, compressed_nbytes: int) -> float:
    """Raw bytes over compressed bytes (2.0 = half the size)."""
    return original_nbytes / compressed_nbytes


def space_saving(original_nbytes: int, compressed_nbytes: int) -> float:
    """``1 - compressed / original`` (0.75 = a quarter of the size is left)."""
    return 1.0 - compressed_nbytes / original_nbytes


class SizeFigures:
    """bpp, ratio and space saving of a compressed result that has ``nbytes`` (everything written, headers
    included), ``raw_nbytes`` (the uncompressed pixels) and ``num_pixels``."""

    nbytes: int
    raw_nbytes: int
    num_pixels: int

    @property
    def bpp(self) -> float:
        """Bits per pixel of everything written, headers and metadata included."""
        return self.nbytes * 8 / self.num_pixels

    @property
    def ratio(self) -> float:
        return compression_ratio(self.raw_nbytes, self.nbytes)

    @property
    def space_saving(self) -> float:
        return space_saving(self.raw_nbytes, self.nbytes)


def quality_report(volume: Volume, reconstruction: np.ndarray, compressed_nbytes: int, *,
                   peak: float | None = None) -> dict[str, Any]:
    """Every figure for one compressed volume: sizes, volume figures and a ``per_slice`` list of each.

    The peak and the SSIM data range come from ``volume.bits_stored`` (``peak`` overrides the PSNR
    peak only).  Values are plain floats and ints; PSNR is ``inf`` for an exact reconstruction.
    """
    original = volume.array
    bits = volume.bits_stored
    psnr_peak = peak_value(original, bits) if peak is None else peak
    errors = _per_slice_squared_error(original, reconstruction)
    slices = {
        "mse": errors,
        "psnr": psnr_from_mse(errors, psnr_peak),
        "ssim": ssim(original, reconstruction, bits_stored=bits, per_slice=True),
        "ms_ssim": ms_ssim(original, reconstruction, bits_stored=bits, per_slice=True),
        "max_abs_error": max_abs_error(original, reconstruction, per_slice=True),
    }
    original_nbytes = int(original.nbytes)
    return {
        "num_slices": int(original.shape[0]),
        "num_pixels": num_pixels(original.shape),
        "original_bytes": original_nbytes,
        "compressed_bytes": int(compressed_nbytes),
        "bpp": bits_per_pixel(compressed_nbytes, original.shape),
        "compression_ratio": compression_ratio(original_nbytes, compressed_nbytes),
        "space_saving": space_saving(original_nbytes, compressed_nbytes),
        "peak": float(psnr_peak),
        "mse": float(errors.mean()),
        "psnr": psnr_from_mse(errors.mean(), psnr_peak),
        "ssim": float(slices["ssim"].mean()),
        "ms_ssim": float(slices["ms_ssim"].mean()),
        "max_abs_error": slices["max_abs_error"].max().item(),
        "per_slice": {name: [v.item() for v in values] for name, values in slices.items()},
    }

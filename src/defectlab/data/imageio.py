"""Read and write images and masks with defectlab's conventions.

Every image comes back as ``uint8`` HxWx3 RGB, whatever the file holds:

- grayscale, bilevel, palette, CMYK, YCbCr ... are converted to RGB (gray is replicated);
- an alpha channel is composited over black (``rgb * alpha / 255``), so opaque images are
  unchanged and fully transparent pixels become black;
- 16-bit data (``I;16*`` modes, 16-bit PNGs) keeps its high byte (``>> 8``); 32-bit integer
  data (mode ``I``) is treated as 16-bit when it fits in 0..65535 and min-max scaled
  otherwise; float data (mode ``F``) is scaled by 255 when it lies in [0, 1] and min-max
  scaled otherwise;
- multi-frame files yield their first frame.

Masks come back as ``uint8`` HxW in {0, 1}: any nonzero pixel (any colour channel) is 1.
Every failure is a :class:`~defectlab.errors.DataError` whose one-line message names the file.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, UnidentifiedImageError

from defectlab.errors import DataError, ImageTooLargeError

MAX_PIXELS = 50_000_000
"""Default pixel-count limit (width * height) for decoded images; override per call or here."""

_DECODE_ERRORS = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    IndexError,
    TypeError,
    struct.error,
    zlib.error,
    Image.DecompressionBombError,
)
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
_ALPHA_MODES = ("LA", "La", "PA", "RGBA", "RGBa")


def load_image(path: str | os.PathLike[str], max_pixels: int | None = None) -> np.ndarray:
    """Read an image file as ``uint8`` HxWx3 RGB (see the module docstring for the rules)."""
    return _decode(path, str(path), max_pixels, _to_rgb)


def decode_image_bytes(data: bytes, max_pixels: int | None = None, name: str = "<bytes>") -> np.ndarray:
    """Decode an encoded image (PNG, JPEG, ...) held in memory; ``name`` labels error messages."""
    if not data:
        raise DataError(f"cannot read image {name}: no data (0 bytes)")
    return _decode(io.BytesIO(data), name, max_pixels, _to_rgb)


def load_mask(path: str | os.PathLike[str], shape: tuple[int, ...]) -> np.ndarray:
    """Read a mask file as ``uint8`` HxW in {0, 1} and check it matches ``shape[:2]`` (H, W)."""
    mask = _decode(path, str(path), None, _to_binary)
    expected = tuple(shape[:2])
    if mask.shape != expected:
        raise DataError(f"mask {path} is {mask.shape[1]}x{mask.shape[0]} (WxH) but its image is {expected[1]}x{expected[0]}")
    return mask


def save_image(path: str | os.PathLike[str], image: np.ndarray) -> None:
    """Write a ``uint8`` HxWx3 (or HxW) image as PNG, creating parent folders."""
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise DataError(f"cannot save {path}: image must be uint8 HxWx3 or HxW, got {image.dtype} {image.shape}")
    _write_png(path, image)


def save_mask(path: str | os.PathLike[str], mask: np.ndarray) -> None:
    """Write a {0, 1} (or boolean) HxW mask as a 0/255 PNG, creating parent folders."""
    if mask.ndim != 2:
        raise DataError(f"cannot save mask {path}: mask must be HxW, got shape {mask.shape}")
    _write_png(path, np.where(mask != 0, 255, 0).astype(np.uint8))


def _write_png(path: str | os.PathLike[str], array: np.ndarray) -> None:
    target = Path(path)
    if target.suffix.lower() != ".png":
        raise DataError(f"cannot save {target}: images and masks are written as .png files")
    target.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(array)).save(target, format="PNG")


def _decode(
    source: str | os.PathLike[str] | IO[bytes],
    name: str,
    max_pixels: int | None,
    convert: Callable[[Image.Image], np.ndarray],
) -> np.ndarray:
    """Open, check the pixel count, decode the first frame and convert it while the file is open."""
    limit = MAX_PIXELS if max_pixels is None else max_pixels
    try:
        image = Image.open(source)
    except FileNotFoundError as exc:
        raise DataError(f"image file not found: {name}") from exc
    except IsADirectoryError as exc:
        raise DataError(f"cannot read image {name}: it is a directory") from exc
    except UnidentifiedImageError as exc:
        raise DataError(f"cannot read image {name}: {_unidentified_reason(source)}") from exc
    except Image.DecompressionBombError as exc:  # PIL's own guard, far above ours, on some formats at open
        raise ImageTooLargeError(f"image {name} is over the pixel limit: {exc}") from exc
    except _DECODE_ERRORS as exc:
        raise _read_error(name, exc) from exc
    with image:
        width, height = image.size
        if width * height > limit:
            raise ImageTooLargeError(f"image {name} is {width}x{height} = {width * height} pixels, over the limit of {limit}")
        try:
            image.load()
            if image.mode != "P":
                return convert(image)
            return convert(image.convert("RGBA" if "transparency" in image.info else "RGB"))
        except _DECODE_ERRORS as exc:
            raise _read_error(name, exc) from exc


def _to_rgb(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode in _SIXTEEN_BIT_MODES:
        gray = (np.asarray(image).astype(np.uint16) >> 8).astype(np.uint8)
    elif mode == "I":
        gray = _int32_to_uint8(np.asarray(image))
    elif mode == "F":
        gray = _float_to_uint8(np.asarray(image))
    elif mode in _ALPHA_MODES:
        return _composite_on_black(np.asarray(image.convert("RGBA")))
    else:
        return np.array(image if mode == "RGB" else image.convert("RGB"))
    return np.repeat(gray[:, :, None], 3, axis=2)


def _to_binary(image: Image.Image) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim == 3:
        colour = arr[..., :-1] if image.mode in _ALPHA_MODES else arr
        return colour.any(axis=2).astype(np.uint8)
    return (arr != 0).astype(np.uint8)


def _composite_on_black(rgba: np.ndarray) -> np.ndarray:
    alpha = rgba[..., 3:].astype(np.uint32)
    return ((rgba[..., :3].astype(np.uint32) * alpha + 127) // 255).astype(np.uint8)


def _int32_to_uint8(arr: np.ndarray) -> np.ndarray:
    if arr.size and arr.min() >= 0 and arr.max() <= 0xFFFF:
        return (arr >> 8).astype(np.uint8)
    return _minmax_to_uint8(arr.astype(np.float64))


def _float_to_uint8(arr: np.ndarray) -> np.ndarray:
    arr = np.nan_to_num(arr.astype(np.float64))
    if arr.size and arr.min() >= 0.0 and arr.max() <= 1.0:
        return np.round(arr * 255.0).astype(np.uint8)
    return _minmax_to_uint8(arr)


def _minmax_to_uint8(arr: np.ndarray) -> np.ndarray:
    low, high = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
    if high <= low:
        return np.zeros(arr.shape, dtype=np.uint8)
    return np.round((arr - low) * (255.0 / (high - low))).astype(np.uint8)


def _unidentified_reason(source: str | os.PathLike[str] | IO[bytes]) -> str:
    if isinstance(source, (str, os.PathLike)) and os.path.getsize(source) == 0:
        return "the file is empty (0 bytes)"
    return "not a recognised image format"


def _read_error(name: str, exc: BaseException) -> DataError:
    reason = " ".join(str(exc).split()) or type(exc).__name__
    return DataError(f"cannot read image {name}: {reason}")

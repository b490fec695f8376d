"""Image and mask loading: every mode, every kind of bad file."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from defectlab.data import imageio
from defectlab.data.imageio import decode_image_bytes, load_image, load_mask, save_image, save_mask
from defectlab.errors import DataError

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (12, 10, 3), dtype=np.uint8)
GRAY = RNG.integers(0, 256, (12, 10), dtype=np.uint8)


def _png16(array: np.ndarray, colour_type: int) -> bytes:
    """A 16-bit PNG written by hand (Pillow cannot write 16-bit RGB)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    height, width = array.shape[:2]
    raw = b"".join(b"\x00" + array[row].astype(">u2").tobytes() for row in range(height))
    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def _encoded(image: Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _assert_one_line_naming(error: pytest.ExceptionInfo[DataError], name: str) -> None:
    message = str(error.value)
    assert name in message
    assert "\n" not in message


def test_rgb_round_trip(tmp_path: Path) -> None:
    save_image(tmp_path / "sub" / "a.png", RGB)
    loaded = load_image(tmp_path / "sub" / "a.png")
    assert loaded.dtype == np.uint8 and loaded.flags.writeable
    np.testing.assert_array_equal(loaded, RGB)


def test_grayscale_is_replicated(tmp_path: Path) -> None:
    save_image(tmp_path / "g.png", GRAY)
    loaded = load_image(tmp_path / "g.png")
    assert loaded.shape == (12, 10, 3)
    for channel in range(3):
        np.testing.assert_array_equal(loaded[:, :, channel], GRAY)


def test_bilevel_image(tmp_path: Path) -> None:
    path = _write(tmp_path / "b.png", _encoded(Image.fromarray(GRAY > 128)))
    np.testing.assert_array_equal(load_image(path)[:, :, 1], np.where(GRAY > 128, 255, 0))


def test_rgba_is_composited_over_black(tmp_path: Path) -> None:
    rgba = np.zeros((2, 3, 4), dtype=np.uint8)
    rgba[..., :3] = (200, 100, 50)
    rgba[..., 3] = [[255, 0, 128], [255, 255, 255]]
    path = _write(tmp_path / "a.png", _encoded(Image.fromarray(rgba)))
    loaded = load_image(path)
    assert loaded.shape == (2, 3, 3)
    np.testing.assert_array_equal(loaded[0, 0], (200, 100, 50))
    np.testing.assert_array_equal(loaded[0, 1], (0, 0, 0))
    np.testing.assert_array_equal(loaded[0, 2], (100, 50, 25))


def test_gray_alpha_image(tmp_path: Path) -> None:
    la = np.stack([GRAY, np.full_like(GRAY, 255)], axis=2)
    path = _write(tmp_path / "la.png", _encoded(Image.fromarray(la, mode="LA")))
    np.testing.assert_array_equal(load_image(path)[:, :, 2], GRAY)


def test_palette_image(tmp_path: Path) -> None:
    palette_image = Image.fromarray(RGB).quantize(colors=16)
    path = _write(tmp_path / "p.png", _encoded(palette_image))
    np.testing.assert_array_equal(load_image(path), np.asarray(palette_image.convert("RGB")))


def test_palette_with_transparency(tmp_path: Path) -> None:
    palette_image = Image.fromarray(RGB).quantize(colors=4)
    index = int(np.asarray(palette_image)[0, 0])
    path = _write(tmp_path / "pt.png", _encoded(palette_image, transparency=index))
    loaded = load_image(path)
    np.testing.assert_array_equal(loaded[0, 0], (0, 0, 0))
    assert loaded.shape == (12, 10, 3)


def test_sixteen_bit_gray_png_keeps_high_byte(tmp_path: Path) -> None:
    deep = RNG.integers(0, 65536, (12, 10), dtype=np.uint16)
    path = _write(tmp_path / "d.png", _encoded(Image.fromarray(deep)))
    assert Image.open(path).mode == "I;16"
    np.testing.assert_array_equal(load_image(path)[:, :, 0], deep >> 8)


def test_sixteen_bit_big_endian_tiff(tmp_path: Path) -> None:
    deep = RNG.integers(0, 65536, (12, 10), dtype=np.uint16)
    image = Image.frombytes("I;16B", (10, 12), deep.astype(">u2").tobytes())
    path = _write(tmp_path / "d.tif", _encoded(image, "TIFF"))
    assert Image.open(path).mode == "I;16B"
    np.testing.assert_array_equal(load_image(path)[:, :, 2], deep >> 8)


@pytest.mark.parametrize("colour_type, channels", [(0, 1), (2, 3), (6, 4)])
def test_sixteen_bit_png_by_hand(tmp_path: Path, colour_type: int, channels: int) -> None:
    deep = RNG.integers(0, 65536, (6, 5, channels), dtype=np.uint16)
    deep[..., -1] = 65535 if channels == 4 else deep[..., -1]
    path = _write(tmp_path / "h.png", _png16(deep, colour_type))
    expected = (deep[..., :3] >> 8).astype(np.uint8)
    loaded = load_image(path)
    np.testing.assert_array_equal(loaded, np.broadcast_to(expected, loaded.shape))


def test_int32_image_within_sixteen_bits(tmp_path: Path) -> None:
    values = np.arange(120, dtype=np.int32).reshape(12, 10) * 500
    path = _write(tmp_path / "i.tif", _encoded(Image.fromarray(values), "TIFF"))
    assert Image.open(path).mode == "I"
    np.testing.assert_array_equal(load_image(path)[:, :, 0], values >> 8)


def test_int32_image_outside_sixteen_bits_is_min_max_scaled(tmp_path: Path) -> None:
    values = np.array([[-1000, 0], [100000, 200000]], dtype=np.int32)
    path = _write(tmp_path / "i.tif", _encoded(Image.fromarray(values), "TIFF"))
    loaded = load_image(path)[:, :, 0]
    assert loaded[0, 0] == 0 and loaded[1, 1] == 255 and 0 < loaded[1, 0] < 255


@pytest.mark.parametrize(
    "values, expected",
    [([[0.0, 0.5], [1.0, 0.25]], [[0, 128], [255, 64]]), ([[-2.0, 0.0], [2.0, 2.0]], [[0, 128], [255, 255]])],
)
def test_float_image(tmp_path: Path, values: list[list[float]], expected: list[list[int]]) -> None:
    path = _write(tmp_path / "f.tif", _encoded(Image.fromarray(np.array(values, dtype=np.float32)), "TIFF"))
    np.testing.assert_array_equal(load_image(path)[:, :, 0], expected)


def test_constant_float_image_is_black(tmp_path: Path) -> None:
    path = _write(tmp_path / "f.tif", _encoded(Image.fromarray(np.full((3, 3), 7.0, np.float32)), "TIFF"))
    assert not load_image(path).any()


def test_cmyk_jpeg(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.jpg", _encoded(Image.fromarray(RGB).convert("CMYK"), "JPEG"))
    assert load_image(path).shape == (12, 10, 3)


def test_multi_frame_gif_yields_first_frame(tmp_path: Path) -> None:
    frames = [Image.fromarray(np.full((8, 8), value, np.uint8)) for value in (10, 200)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    loaded = load_image(_write(tmp_path / "m.gif", buffer.getvalue()))
    assert loaded.shape == (8, 8, 3) and (loaded == 10).all()


def test_pixel_limit_per_call(tmp_path: Path) -> None:
    save_image(tmp_path / "big.png", RGB)
    with pytest.raises(DataError, match="over the limit of 100") as error:
        load_image(tmp_path / "big.png", max_pixels=100)
    _assert_one_line_naming(error, "big.png")
    assert load_image(tmp_path / "big.png", max_pixels=120).shape == (12, 10, 3)


def test_pixel_limit_module_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    save_image(tmp_path / "big.png", RGB)
    monkeypatch.setattr(imageio, "MAX_PIXELS", 50)
    with pytest.raises(DataError, match="limit"):
        load_image(tmp_path / "big.png")


def _declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares ``width`` x ``height`` pixels (a decompression bomb)."""
    png = _png16(np.zeros((1, 1), np.uint16), 0)
    png = png.replace(struct.pack(">II", 1, 1), struct.pack(">II", width, height), 1)
    return png[:29] + struct.pack(">I", zlib.crc32(png[12:29])) + png[33:]


def test_huge_declared_size_is_refused_before_decoding(tmp_path: Path) -> None:
    path = _write(tmp_path / "bomb.png", _declaring(10_000, 8_000))
    with pytest.raises(DataError, match="10000x8000 = 80000000 pixels, over the limit of 50000000") as error:
        load_image(path)
    _assert_one_line_naming(error, "bomb.png")


def test_size_beyond_pillows_own_guard(tmp_path: Path) -> None:
    path = _write(tmp_path / "bomb.png", _declaring(100_000, 100_000))
    with pytest.raises(DataError) as error:
        load_image(path, max_pixels=10**11)
    _assert_one_line_naming(error, "bomb.png")


def test_zero_byte_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="empty") as error:
        load_image(_write(tmp_path / "empty.png", b""))
    _assert_one_line_naming(error, "empty.png")


def test_text_file_renamed_png(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not a recognised image") as error:
        load_image(_write(tmp_path / "notes.png", b"hello, this is not an image\n"))
    _assert_one_line_naming(error, "notes.png")


@pytest.mark.parametrize("fmt, suffix", [("PNG", "png"), ("JPEG", "jpg"), ("BMP", "bmp"), ("TIFF", "tif")])
def test_truncated_file(tmp_path: Path, fmt: str, suffix: str) -> None:
    data = _encoded(Image.fromarray(RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8)), fmt)
    path = _write(tmp_path / f"cut.{suffix}", data[: len(data) // 2])
    with pytest.raises(DataError) as error:
        load_image(path)
    _assert_one_line_naming(error, f"cut.{suffix}")


def test_corrupt_png_body(tmp_path: Path) -> None:
    data = bytearray(_encoded(Image.fromarray(RGB)))
    data[60:80] = b"\xff" * 20
    with pytest.raises(DataError, match="bad.png"):
        load_image(_write(tmp_path / "bad.png", bytes(data)))


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found.*nothing.png"):
        load_image(tmp_path / "nothing.png")
    with pytest.raises(DataError, match="directory"):
        load_image(tmp_path)


def test_decode_image_bytes() -> None:
    np.testing.assert_array_equal(decode_image_bytes(_encoded(Image.fromarray(RGB))), RGB)
    np.testing.assert_array_equal(decode_image_bytes(_encoded(Image.fromarray(GRAY)))[:, :, 1], GRAY)
    with pytest.raises(DataError, match="upload.png.*0 bytes"):
        decode_image_bytes(b"", name="upload.png")
    with pytest.raises(DataError, match="upload.png.*not a recognised"):
        decode_image_bytes(b"GIF89a? no", name="upload.png")
    with pytest.raises(DataError, match="limit"):
        decode_image_bytes(_encoded(Image.fromarray(RGB)), max_pixels=10)


@pytest.mark.filterwarnings("ignore::UserWarning")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fmt=st.sampled_from(["PNG", "JPEG", "BMP", "TIFF", "GIF"]),
    cut=st.floats(0.0, 1.0),
    flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 255)), max_size=4),
)
def test_damaged_bytes_give_an_image_or_data_error(fmt: str, cut: float, flips: list[tuple[float, int]]) -> None:
    data = bytearray(_encoded(Image.fromarray(RGB), fmt))
    for where, value in flips:
        data[int(where * (len(data) - 1))] = value
    data = data[: max(1, int(cut * len(data)))]
    try:
        image = decode_image_bytes(bytes(data), name="fuzz")
    except DataError as error:
        assert "fuzz" in str(error) and "\n" not in str(error)
    else:
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3


def test_mask_any_nonzero_is_one(tmp_path: Path) -> None:
    values = np.array([[0, 1, 7], [255, 0, 128]], dtype=np.uint8)
    path = _write(tmp_path / "m.png", _encoded(Image.fromarray(values)))
    mask = load_mask(path, (2, 3))
    assert mask.dtype == np.uint8
    np.testing.assert_array_equal(mask, [[0, 1, 1], [1, 0, 1]])


def test_colour_and_alpha_masks(tmp_path: Path) -> None:
    rgba = np.zeros((2, 2, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    rgba[0, 1, 0] = 9
    path = _write(tmp_path / "m.png", _encoded(Image.fromarray(rgba)))
    np.testing.assert_array_equal(load_mask(path, (2, 2, 3)), [[0, 1], [0, 0]])
    rgb_path = _write(tmp_path / "rgb.png", _encoded(Image.fromarray(rgba[..., :3].copy())))
    np.testing.assert_array_equal(load_mask(rgb_path, (2, 2)), [[0, 1], [0, 0]])


def test_palette_mask_uses_colours(tmp_path: Path) -> None:
    image = Image.fromarray(np.array([[0, 1], [1, 0]], dtype=np.uint8), mode="P")
    image.putpalette([255, 255, 255, 0, 0, 0])
    path = _write(tmp_path / "p.png", _encoded(image))
    np.testing.assert_array_equal(load_mask(path, (2, 2)), [[1, 0], [0, 1]])


def test_mask_of_wrong_size(tmp_path: Path) -> None:
    save_mask(tmp_path / "m_mask.png", np.ones((12, 10), np.uint8))
    with pytest.raises(DataError) as error:
        load_mask(tmp_path / "m_mask.png", (12, 11, 3))
    _assert_one_line_naming(error, "m_mask.png")
    assert "10x12" in str(error.value) and "11x12" in str(error.value)


def test_save_mask_writes_0_255(tmp_path: Path) -> None:
    mask = (GRAY > 100).astype(np.uint8)
    save_mask(tmp_path / "m.png", mask)
    stored = np.asarray(Image.open(tmp_path / "m.png"))
    assert set(np.unique(stored)) <= {0, 255}
    np.testing.assert_array_equal(load_mask(tmp_path / "m.png", mask.shape), mask)


def test_save_rejects_bad_arrays(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="uint8"):
        save_image(tmp_path / "x.png", RGB.astype(np.float32))
    with pytest.raises(DataError, match="HxW"):
        save_mask(tmp_path / "x.png", RGB)
    with pytest.raises(DataError, match="x.jpg.*png"):
        save_image(tmp_path / "x.jpg", RGB)

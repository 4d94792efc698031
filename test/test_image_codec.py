"""Compressed images are sized from their header before decoding; bad images get the right kind;
text quoted from messages cannot forge log lines."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import MEDIA

from teleop_common.image_codec import MAX_PIXELS, BadImageError, compressed_size, decode_compressed, decode_raw
from teleop_common.text import one_line, printable


def _messi() -> np.ndarray:
    return cv2.imread(str(MEDIA / "messi5.jpg"))


@pytest.mark.parametrize("suffix,params", [(".png", []), (".jpg", []),
                                           (".jpg", [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])],
                         ids=["png", "jpeg", "progressive-jpeg"])
def test_header_gives_the_real_size(suffix, params):
    bgr = _messi()
    ok, data = cv2.imencode(suffix, bgr, params)
    assert ok
    fmt, width, height = compressed_size(data.tobytes())
    assert (fmt, width, height) == (suffix.strip(".").replace("jpg", "jpeg"), bgr.shape[1], bgr.shape[0])
    np.testing.assert_array_equal(decode_compressed(data.tobytes()), cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1])
    np.testing.assert_array_equal(decode_compressed(data.tobytes(), bgr=True), cv2.imdecode(data, cv2.IMREAD_COLOR))


def test_small_file_claiming_a_huge_image_is_refused_without_decoding():
    side = 6000  # 36 Mpx > MAX_PIXELS; a flat image compresses to a few dozen KiB
    ok, png = cv2.imencode(".png", np.zeros((side, side), np.uint8))
    assert ok and png.size < 200_000 and side * side > MAX_PIXELS
    with pytest.raises(BadImageError) as error:
        decode_compressed(png.tobytes())
    assert error.value.kind == "bad_size" and f"{side}x{side}" in str(error.value)
    # Refused from the header alone, not by timing: the signature and IHDR chunk without any pixel data
    # cannot be decoded (a decoder would say "undecodable"), yet they get the same size refusal.
    header_only = png.tobytes()[:33]
    with pytest.raises(BadImageError) as error:
        decode_compressed(header_only)
    assert error.value.kind == "bad_size" and f"{side}x{side}" in str(error.value)
    assert cv2.imdecode(np.frombuffer(header_only, np.uint8), cv2.IMREAD_COLOR) is None


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_one_pixel_image_is_bad_size(suffix):
    ok, data = cv2.imencode(suffix, np.zeros((1, 1, 3), np.uint8))
    with pytest.raises(BadImageError) as error:
        decode_compressed(data.tobytes())
    assert error.value.kind == "bad_size"
    with pytest.raises(BadImageError) as error:
        decode_raw("rgb8", 1, 1, 3, b"\0\0\0")
    assert error.value.kind == "bad_size"


@pytest.mark.parametrize("data", [b"GIF89a" + bytes(100), b"\xff\xd8\xff\xe0\x00\x10JFIF", b"\x89PNG\r\n\x1a\n"],
                         ids=["gif", "jpeg-without-frame", "png-without-ihdr"])
def test_other_or_broken_headers_are_undecodable(data):
    with pytest.raises(BadImageError) as error:
        decode_compressed(data)
    assert error.value.kind == "undecodable"


def test_message_text_is_one_line():
    forged = "rgb8\n[ERROR] [1700000000.0] [pose_retarget]: operator lost"
    with pytest.raises(BadImageError) as error:
        decode_raw(forged, 64, 48, 192, bytes(192 * 48))
    assert error.value.kind == "unsupported_encoding" and "\n" not in str(error.value)
    assert "\n" not in one_line(f"detail {forged}") and "\\n" in one_line(forged)
    assert printable("x" * 1000).endswith("…'") and len(printable("x" * 1000)) < 210

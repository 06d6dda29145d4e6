"""Photos for the tests: real FER2013 faces, scikit-image's astronaut, webcam-like frames, encodings.

Nothing here is written into the repository: FER2013 faces are read from the dataset in place and
the test photo comes from scikit-image at test time.
"""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from support.data import DATA_DIR, HAS_DATA, NO_DATA_REASON


def fer_face(index: int = 0, emotion: str = "happy") -> np.ndarray:
    """A real FER2013 test face, uint8 (48, 48); skips the test when the dataset is absent."""
    if not HAS_DATA:
        pytest.skip(NO_DATA_REASON)
    files = sorted((DATA_DIR / "test" / emotion).glob("*"))
    return cv2.imread(str(files[index]), cv2.IMREAD_GRAYSCALE)


def astronaut() -> np.ndarray:
    """scikit-image's astronaut photo (one frontal face), uint8 RGB (512, 512, 3)."""
    data = pytest.importorskip("skimage.data", reason="scikit-image (a test dependency) provides the test photo")
    return data.astronaut()


def face_frame(width: int = 640, height: int = 480) -> np.ndarray:
    """The astronaut's head centred on a grey ``width`` x ``height`` RGB canvas (a webcam-like frame)."""
    photo = astronaut()[0:300, 100:400]  # head and shoulders, (300, 300, 3)
    canvas = np.full((height, width, 3), 128, np.uint8)
    top, left = (height - 300) // 2, (width - 300) // 2
    canvas[top : top + 300, left : left + 300] = photo
    return canvas


def encode(image: np.ndarray, extension: str = ".png") -> bytes:
    """An RGB array encoded in memory (``.png`` or ``.jpg``)."""
    ok, buffer = cv2.imencode(extension, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    assert ok, f"OpenCV could not encode {extension}"
    return buffer.tobytes()


def encode_pil(image: Image.Image, fmt: str, **options: object) -> bytes:
    """A PIL image encoded in memory as ``fmt`` (PNG, JPEG, GIF, ...)."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A tiny valid PNG whose IHDR is patched (with a correct CRC) to declare ``width`` x ``height``."""
    data = bytearray(encode_pil(Image.new("L", (8, 8)), "PNG"))
    assert data[12:16] == b"IHDR"
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])  # new size, same depth / colour type / ...
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    return bytes(data)

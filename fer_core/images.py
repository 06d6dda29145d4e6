"""Reading images safely: any photo (bytes, path, PIL image or array) to a uint8 RGB array.

Bad input — an empty or huge file, a format we cannot read, a damaged or truncated image, a
decompression bomb — raises :class:`~fer_core.errors.ImageError` with a sentence for people.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from fer_core.errors import ImageError

#: Images with more pixels than this are refused before their pixels are decoded (decompression
#: bombs); 50 megapixels is above any phone camera.
MAX_IMAGE_PIXELS = 50_000_000
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
#: Files larger than this are refused before decoding.
MAX_FILE_BYTES = 25 * 1024 * 1024


def _to_rgb(pil: Image.Image) -> np.ndarray:
    """Any PIL mode (RGBA, palette, 1-bit, 16-bit, CMYK, ...) to uint8 RGB."""
    if pil.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(pil, dtype=np.float64)
        top = 65535.0 if pil.mode.startswith("I;16") or array.max() > 255 else 255.0
        grey = np.clip(array * (255.0 / top), 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if pil.mode == "F":
        array = np.asarray(pil, dtype=np.float64)
        span = max(float(array.max() - array.min()), 1e-9)
        grey = ((array - array.min()) * (255.0 / span)).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if pil.mode in ("RGBA", "LA", "PA") or (pil.mode == "P" and "transparency" in pil.info):
        rgba = pil.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"))
    return np.asarray(pil.convert("RGB"))


def read_image(source: bytes | str | os.PathLike[str] | Image.Image | np.ndarray) -> np.ndarray:
    """Read a photo into a uint8 RGB array ``(h, w, 3)``; bad input raises :class:`ImageError`.

    Honours EXIF orientation, uses the first frame of animations, converts every colour mode and
    refuses images over :data:`MAX_IMAGE_PIXELS` before decoding their pixels.
    """
    if isinstance(source, np.ndarray):
        return _array_to_rgb(source)
    if isinstance(source, Image.Image):
        return _pil_to_rgb(source)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise ImageError(f"{path} does not exist or is not a file.")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ImageError(
                f"{path.name} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB; please use a smaller photo."
            )
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ImageError(f"{path.name} could not be read ({exc.strerror or exc}).") from exc
    else:
        data = bytes(source)
    if not data:
        raise ImageError("The file is empty (0 bytes); it is not an image.")
    if len(data) > MAX_FILE_BYTES:
        raise ImageError(f"The file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB; please use a smaller photo.")
    try:
        pil = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise ImageError(
            f"The image declares more than {MAX_IMAGE_PIXELS // 1_000_000} megapixels; it was refused before decoding."
        ) from None
    except UnidentifiedImageError:
        raise ImageError("This file is not an image format we can read (try JPEG or PNG).") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"This image could not be opened ({exc}).") from None
    return _pil_to_rgb(pil)


def _pil_to_rgb(pil: Image.Image) -> np.ndarray:
    width, height = pil.size
    if width * height > MAX_IMAGE_PIXELS:
        raise ImageError(
            f"The image is {width}x{height} pixels, more than the {MAX_IMAGE_PIXELS // 1_000_000} megapixel limit; "
            "please use a smaller photo."
        )
    if width < 1 or height < 1:
        raise ImageError("The image has no pixels.")
    try:
        pil.seek(0)  # first frame of an animation
        pil.load()
        pil = ImageOps.exif_transpose(pil) or pil
        return np.ascontiguousarray(_to_rgb(pil))
    except Image.DecompressionBombError:
        raise ImageError("The image declares too many pixels to be decoded safely.") from None
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError) as exc:
        raise ImageError(f"The image is damaged or truncated and could not be decoded ({exc}).") from None


def _array_to_rgb(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)
    if array.size == 0 or array.ndim not in (2, 3):
        raise ImageError(f"Expected an image array of shape (h, w) or (h, w, c), got {array.shape}.")
    if array.shape[0] * array.shape[1] > MAX_IMAGE_PIXELS:
        raise ImageError("The image has too many pixels to be processed safely.")
    if array.dtype != np.uint8:
        if np.issubdtype(array.dtype, np.floating):
            finite = np.nan_to_num(array.astype(np.float64), nan=0.0, posinf=1.0, neginf=0.0)
            scale = 255.0 if finite.max(initial=0.0) <= 1.0 else 1.0
            array = np.clip(finite * scale, 0, 255).astype(np.uint8)
        elif array.dtype == np.uint16:
            array = (array >> 8).astype(np.uint8)
        else:
            array = np.clip(array, 0, 255).astype(np.uint8)
    if array.ndim == 2:
        return np.repeat(array[..., None], 3, axis=2)
    channels = array.shape[2]
    if channels == 1:
        return np.repeat(array, 3, axis=2)
    if channels == 3:
        return np.ascontiguousarray(array)
    if channels == 4:
        return np.ascontiguousarray(array[..., :3])
    raise ImageError(f"Expected 1, 3 or 4 colour channels, got {channels}.")

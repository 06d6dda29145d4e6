"""Malformed input thrown at the photo path: it returns faces or raises our ImageError, nothing else."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from fer_core.artifacts import load_model
from fer_core.errors import ImageError
from fer_core.faces import FaceDetector, predict_image


def _encoded(fmt: str) -> bytes:
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, size=(40, 56, 3), dtype=np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


VALID = [_encoded(fmt) for fmt in ("JPEG", "PNG", "GIF", "BMP", "WEBP")]


@pytest.fixture(scope="module")
def model(zoo: Path):  # noqa: ANN201 - a FerModel
    return load_model("logreg", zoo)[0]


DETECTOR = FaceDetector()  # one for the module: hypothesis calls the function below hundreds of times


def _predict_or_image_error(data: object, model) -> None:  # noqa: ANN001
    try:
        faces = predict_image(data, model, DETECTOR)
    except ImageError as exc:
        assert str(exc)  # a sentence, never empty
        return
    for face in faces:
        assert abs(sum(face.probabilities.values()) - 1.0) < 1e-3


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(data=st.binary(max_size=2048))
def test_random_bytes(data: bytes, model) -> None:  # noqa: ANN001
    _predict_or_image_error(data, model)


@FUZZ
@given(
    base=st.sampled_from(VALID),
    cut=st.integers(min_value=0, max_value=4000),
    noise=st.binary(min_size=0, max_size=64),
    at=st.integers(min_value=0, max_value=4000),
)
def test_damaged_real_images(base: bytes, cut: int, noise: bytes, at: int, model) -> None:  # noqa: ANN001
    truncated = base[: cut % (len(base) + 1)]
    position = at % (len(truncated) + 1)
    _predict_or_image_error(truncated[:position] + noise + truncated[position + len(noise) :], model)


@FUZZ
@given(
    image=arrays(
        dtype=st.sampled_from([np.uint8, np.uint16, np.float32, np.float64, np.int32, np.bool_]),
        shape=st.tuples(st.integers(0, 40), st.integers(0, 40))
        | st.tuples(st.integers(0, 40), st.integers(0, 40), st.integers(0, 5))
        | st.tuples(st.integers(0, 3)),
    )
)
def test_odd_arrays(image: np.ndarray, model) -> None:  # noqa: ANN001
    _predict_or_image_error(image, model)

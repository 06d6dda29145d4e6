"""Tests for fer_core.photo: every face analysed, the largest detailed, and the CSV / JSON / PNG exports."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image
from support.photos import astronaut
from test_live import FixedModel

from fer_core.constants import EMOTIONS
from fer_core.errors import ImageError
from fer_core.faces import FaceDetector, largest_first
from fer_core.photo import analyse_photo, display_image, png_bytes, results_csv, results_json

DETECTOR = FaceDetector()


class TestAnalysePhoto:
    def test_one_face(self) -> None:
        analysis = analyse_photo(astronaut(), FixedModel(), DETECTOR, name="astronaut.png")
        assert len(analysis.faces) == 1 and analysis.detailed == [0] and analysis.n_hidden == 0
        assert analysis.crops.shape == (1, 48, 48)
        assert analysis.annotated.shape == (512, 512, 3)
        assert (analysis.width, analysis.height) == (512, 512)

    def test_no_face(self) -> None:
        analysis = analyse_photo(np.full((200, 300, 3), 50, np.uint8), FixedModel(), DETECTOR, name="wall")
        assert analysis.faces == [] and analysis.crops.shape == (0, 48, 48)
        assert results_csv([analysis]).strip().count("\n") == 0  # the header only

    def test_whole_image_small_crop_is_enlarged_with_a_label_band(self) -> None:
        analysis = analyse_photo(np.full((48, 48), 128, np.uint8), FixedModel(), DETECTOR, whole_image=True)
        assert len(analysis.faces) == 1 and analysis.faces[0].box == (0, 0, 48, 48)
        height, width = analysis.annotated.shape[:2]
        assert width >= 384 and height > width  # enlarged, with room for the label above

    def test_bad_bytes(self) -> None:
        with pytest.raises(ImageError, match="not an image"):
            analyse_photo(b"not a picture", FixedModel(), DETECTOR)


def test_largest_first_keeps_left_to_right_order() -> None:
    boxes = [(i * 10, 0, 5 + i, 5 + i) for i in range(30)]  # sizes grow left to right
    assert largest_first(boxes, limit=20) == list(range(10, 30))
    assert largest_first(boxes[::-1], limit=3) == [0, 1, 2]  # the three largest, still in their order


def test_exports() -> None:
    analysis = analyse_photo(astronaut(), FixedModel(), DETECTOR, name="a.png")
    lines = results_csv([analysis, analysis]).strip().splitlines()
    assert lines[0].split(",")[:8] == ["file", "face", "x", "y", "width", "height", "emotion", "confidence"]
    assert len(lines) == 3
    payload = json.loads(results_json([analysis]))
    assert payload["classes"] == list(EMOTIONS)
    assert payload["photos"][0]["faces"][0]["face"] == 1
    assert payload["photos"][0]["faces"][0]["emotion"] == "happy"
    decoded = np.asarray(Image.open(io.BytesIO(png_bytes(analysis.annotated))))
    np.testing.assert_array_equal(decoded, analysis.annotated)


def test_display_image_downscales_only_large_images() -> None:
    small = np.zeros((100, 200, 3), np.uint8)
    assert display_image(small) is small
    assert display_image(np.zeros((2000, 4000, 3), np.uint8)).shape == (800, 1600, 3)

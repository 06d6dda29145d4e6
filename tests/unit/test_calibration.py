"""Calibration: temperature scaling, ECE, reliability bins, the "not sure" threshold, cards, quality."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from fer_core import quality
from fer_core.artifacts import list_cards
from fer_core.calibration import (
    Calibration,
    apply_temperature,
    calibrate,
    expected_calibration_error,
    fit_temperature,
    not_sure_threshold,
    reliability,
)
from fer_core.cards import ModelCard
from fer_core.errors import ModelNotFoundError
from fer_core.faces import to_predictions


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def calibrated_sample(n: int = 20000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities and labels drawn from those very probabilities: calibrated by construction."""
    rng = np.random.default_rng(seed)
    p = softmax(rng.normal(0, 1.5, (n, 7)))
    labels = np.array([rng.choice(7, p=row) for row in p])
    return p, labels


class TestTemperature:
    def test_temperature_one_changes_nothing(self) -> None:
        p, _ = calibrated_sample(100)
        assert np.allclose(apply_temperature(p, 1.0), p, atol=1e-6)

    def test_scaling_keeps_the_top_emotion_and_sums_to_one(self) -> None:
        p, _ = calibrated_sample(500)
        for t in (0.5, 2.0):
            q = apply_temperature(p, t)
            assert (q.argmax(axis=1) == p.argmax(axis=1)).all()
            assert np.allclose(q.sum(axis=1), 1.0, atol=1e-5)
        assert apply_temperature(p, 2.0).max(axis=1).mean() < p.max(axis=1).mean()  # softer

    def test_fit_recovers_an_overconfidence(self) -> None:
        p, labels = calibrated_sample()
        sharpened = apply_temperature(p, 0.5)  # over-confident: a temperature of 2 undoes it
        assert fit_temperature(sharpened, labels) == pytest.approx(2.0, rel=0.1)
        assert fit_temperature(p, labels) == pytest.approx(1.0, rel=0.1)

    def test_a_refit_keeps_the_values_fitted_on_held_out_faces(self) -> None:
        p, labels = calibrated_sample(2000)
        sharpened = apply_temperature(p, 0.5)
        fresh = calibrate(sharpened, labels, sharpened, labels)
        kept = calibrate(sharpened, labels, sharpened, labels, fitted=(1.3, 0.42))
        assert fresh.temperature == pytest.approx(2.0, rel=0.15)  # fitted here
        assert (kept.temperature, kept.not_sure_below) == (1.3, 0.42)  # kept as given, not refitted
        assert kept.ece_before == pytest.approx(fresh.ece_before)  # test figures are still measured
        assert kept.ece_after != pytest.approx(fresh.ece_after)  # with the kept temperature


class TestCalibrationError:
    def test_calibrated_probabilities_have_a_small_ece(self) -> None:
        p, labels = calibrated_sample()
        assert expected_calibration_error(p, labels) < 0.02
        assert expected_calibration_error(apply_temperature(p, 0.4), labels) > 0.1

    def test_reliability_bins(self) -> None:
        p = np.array([[0.95, 0.05], [0.95, 0.05], [0.55, 0.45], [0.5, 0.5]])
        labels = np.array([0, 1, 0, 1])
        table = reliability(p, labels, bins=10)
        assert table["count"][9] == 2 and table["accuracy"][9] == 0.5 and table["confidence"][9] == 0.95
        assert table["count"][5] == 1 and table["count"][4] == 1  # 0.55 -> (0.5, 0.6]; 0.5 -> (0.4, 0.5]
        assert sum(table["count"]) == 4
        # ECE: two faces promise 95 % and deliver 50 %; 0.55 delivers 100 %; 0.5 (argmax 0) delivers 0 %.
        expected = (2 * 0.45 + 1 * 0.45 + 1 * 0.5) / 4
        assert expected_calibration_error(p, labels, bins=10) == pytest.approx(expected)

    def test_not_sure_threshold_is_where_answers_turn_mostly_right(self) -> None:
        confidence = np.linspace(0.2, 0.99, 2000)
        right = confidence > 0.6  # below 0.6 every answer is wrong, above it every one is right
        p = np.column_stack([confidence, *[(1 - confidence) / 6] * 6])  # the first emotion is always on top
        labels = np.where(right, 0, 1)
        assert not_sure_threshold(p, labels) == pytest.approx(0.6, abs=0.03)
        assert not_sure_threshold(p, np.zeros(2000, int)) == 0.0  # all right: never "not sure"
        assert not_sure_threshold(p, np.ones(2000, int)) == 1.0  # all wrong: always "not sure"


class TestCards:
    def test_calibrate_and_round_trip(self) -> None:
        p, labels = calibrated_sample(4000)
        sharp = apply_temperature(p, 0.5)
        result = calibrate(sharp[:2000], labels[:2000], sharp[2000:], labels[2000:])
        assert result.ece_after < result.ece_before
        again = Calibration.from_dict(json.loads(json.dumps(result.to_dict())))
        assert again.temperature == pytest.approx(result.temperature, abs=1e-4)
        assert len(again.reliability_after["count"]) == 15

    def test_a_card_applies_its_temperature_and_threshold(self) -> None:
        card = ModelCard(name="cnn", calibration={"temperature": 2.0, "not_sure_below": 0.4, "n_validation": 9})
        assert card.temperature == 2.0 and card.not_sure_below == 0.4
        assert ModelCard(name="cnn").temperature == 1.0 and ModelCard(name="cnn").not_sure_below == 0.0

    @pytest.mark.parametrize("bad", [{"temperature": -1}, {"not_sure_below": 0.5}, {"temperature": "hot"}])
    def test_a_malformed_calibration_makes_the_card_unreadable(self, bad: dict) -> None:
        with pytest.raises(ModelNotFoundError, match="calibration"):
            ModelCard.from_dict({"name": "cnn", "calibration": bad})

    def test_unknown_labels_are_refused(self) -> None:
        with pytest.raises(ModelNotFoundError, match="labels"):
            ModelCard.from_dict({"name": "cnn", "labels": "crowd"})

    def test_every_shipped_model_is_calibrated(self) -> None:
        cards = list_cards()
        for name, card in cards.cards.items():
            calibration = card.calibrated
            assert calibration is not None, name
            assert 0.2 < calibration.temperature < 5 and 0.0 <= calibration.not_sure_below < 0.9
            assert calibration.ece_before is not None and calibration.ece_after is not None
            assert sum(calibration.reliability_after["count"]) > 1000


class TestNotSure:
    def test_low_confidence_and_problems_are_not_sure(self) -> None:
        probabilities = np.array([[0.3, 0.25, 0.15, 0.1, 0.1, 0.05, 0.05], [0.9, 0.02, 0.02, 0.02, 0.02, 0.01, 0.01]])
        boxes = [(0, 0, 50, 50), (60, 0, 50, 50)]
        unsure, sure = to_predictions(boxes, probabilities, not_sure_below=0.5)
        assert unsure.not_sure and unsure.reasons == (quality.UNSURE,)
        assert not sure.not_sure and sure.reasons == ()
        _, blurred = to_predictions(boxes, probabilities, [[], [quality.BLURRED]], 0.5)
        assert blurred.not_sure and blurred.reasons == (quality.BLURRED,)
        assert blurred.to_dict()["not_sure"] is True and blurred.to_dict()["why"] == ["blurred"]

    def test_face_problems(self) -> None:
        rng = np.random.default_rng(0)
        sharp = rng.integers(0, 256, (48, 48)).astype(np.uint8)  # noise: very sharp
        blurred = cv2.GaussianBlur(sharp, (0, 0), 3)
        frontal = np.array([[10, 10], [30, 10], [20, 20], [12, 30], [28, 30]], np.float32)
        turned = frontal.copy()
        turned[2, 0] = 36  # the nose far to one side of the eyes
        assert quality.face_problems((0, 0, 100, 100), sharp, frontal, 0.99) == []
        assert quality.face_problems((0, 0, 20, 20), sharp) == [quality.TOO_SMALL]
        assert quality.face_problems((0, 0, 100, 100), blurred) == [quality.BLURRED]
        assert quality.face_problems((0, 0, 100, 100), sharp, turned) == [quality.TURNED_AWAY]
        assert quality.face_problems((0, 0, 100, 100), sharp, frontal, 0.5) == [quality.HIDDEN]
        assert quality.turn(frontal) == pytest.approx(0.0) and quality.turn(turned) == pytest.approx(0.8)


def test_a_small_validation_set_still_gets_a_threshold_in_between() -> None:
    confidence = np.linspace(0.2, 0.99, 60)
    p = np.column_stack([confidence, *[(1 - confidence) / 6] * 6])
    labels = np.where(confidence > 0.6, 0, 1)
    assert 0.5 < not_sure_threshold(p, labels) < 0.7


def test_the_error_note_says_what_the_threshold_means() -> None:
    from fer_core.views import model_error_note

    def card(threshold: float) -> ModelCard:
        calibration = {"temperature": 1.0, "not_sure_below": threshold, "n_validation": 100}
        return ModelCard(name="cnn", test_accuracy=0.7, calibration=calibration)

    assert "about 3 in 10" in model_error_note(card(0.55)) and "Under 55%" in model_error_note(card(0.55))
    assert "always says **not sure**" in model_error_note(card(1.0))
    assert "not sure" not in model_error_note(card(0.0))


def test_reliability_figure_with_only_small_bins() -> None:
    import pandas as pd

    from fer_ui.figures import reliability_figure

    table = pd.DataFrame(
        [{"model": "m", "when": w, "confidence": 0.5, "accuracy": 0.4, "count": 3} for w in ("before", "after")]
    )
    fig = reliability_figure(table)
    assert len(fig.data) == 2  # both facets drawn from the few faces there are

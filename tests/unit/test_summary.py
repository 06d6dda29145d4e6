"""Tests for fer_core.summary: counts, histograms, mean faces, blank images, duplicates and drift."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from support.data import synthetic_faces

from fer_core.constants import EMOTIONS
from fer_core.data import FerDataset
from fer_core.summary import DRIFT_THRESHOLDS, drift_check, image_contrast, image_sharpness, summarize


def make_dataset(x_train: np.ndarray, x_test: np.ndarray) -> FerDataset:
    y_train = np.arange(len(x_train), dtype=np.int64) % len(EMOTIONS)
    y_test = np.arange(len(x_test), dtype=np.int64) % len(EMOTIONS)
    return FerDataset(x_train, y_train, x_test, y_test, source="synthetic", fingerprint="abc")


@pytest.fixture(scope="module")
def quality_dataset() -> FerDataset:
    """140 train / 70 test synthetic faces with known blanks and duplicates planted in them."""
    x_train, x_test = synthetic_faces(140, seed=1), synthetic_faces(70, seed=2)
    x_train[10], x_train[11], x_train[12] = 0, 128, 255  # three blank (constant) images, all different
    x_train[12, 0, 0] = 254  # a single odd pixel: still blank (std < 2)
    x_test[5] = 40  # one blank test image
    x_train[20] = x_train[21]  # one extra copy inside train
    x_test[30] = x_train[50]  # two test images that are also in train (and duplicates of each other)
    x_test[31] = x_train[50]
    return make_dataset(x_train, x_test)


class TestSummarize:
    def test_counts_and_totals(self, quality_dataset: FerDataset) -> None:
        summary = summarize(quality_dataset)
        assert summary["classes"] == list(EMOTIONS)
        assert summary["counts"]["train"] == dict.fromkeys(EMOTIONS, 20)
        assert summary["counts"]["test"] == dict.fromkeys(EMOTIONS, 10)
        assert summary["totals"] == {"train": 140, "test": 70} and summary["n_train"] == 140
        assert sum(summary["percentages"]["train"].values()) == pytest.approx(100.0, abs=0.05)
        assert summary["imbalance_ratio"] == 1.0

    def test_pixel_histogram(self, quality_dataset: FerDataset) -> None:
        summary = summarize(quality_dataset)
        train_hist, test_hist = summary["pixel_histogram"]["train"], summary["pixel_histogram"]["test"]
        assert len(train_hist) == 256 and len(test_hist) == 256
        assert sum(train_hist) == 140 * 48 * 48 and sum(test_hist) == 70 * 48 * 48
        assert train_hist == np.bincount(quality_dataset.x_train.ravel(), minlength=256).tolist()
        assert summary["pixel_mean"] == pytest.approx(quality_dataset.x_train.mean(), abs=0.01)

    def test_mean_faces(self, quality_dataset: FerDataset) -> None:
        summary = summarize(quality_dataset)
        assert set(summary["mean_faces"]) == set(EMOTIONS)
        happy = np.array(summary["mean_faces"]["happy"])
        assert happy.shape == (48, 48)
        members = quality_dataset.x_train[quality_dataset.y_train == EMOTIONS.index("happy")]
        np.testing.assert_allclose(happy, members.mean(axis=0), atol=0.051)

    def test_blank_images(self, quality_dataset: FerDataset) -> None:
        assert summarize(quality_dataset)["blank_images"] == {"train": 3, "test": 1}

    def test_duplicates_within_and_across_splits(self, quality_dataset: FerDataset) -> None:
        assert summarize(quality_dataset)["duplicates"] == {"within_train": 1, "within_test": 1, "test_in_train": 2}

    def test_no_duplicates_in_distinct_faces(self) -> None:
        summary = summarize(make_dataset(synthetic_faces(70, seed=3), synthetic_faces(35, seed=4)))
        assert summary["duplicates"] == {"within_train": 0, "within_test": 0, "test_in_train": 0}
        assert summary["blank_images"] == {"train": 0, "test": 0}

    def test_is_plain_json(self, quality_dataset: FerDataset) -> None:
        summary = summarize(quality_dataset)
        assert json.loads(json.dumps(summary)) == summary
        assert summary["fingerprint"] == "abc" and summary["skipped_files"] == 0


class TestDrift:
    def test_alike_splits_are_not_flagged(self) -> None:
        result = drift_check(synthetic_faces(300, seed=5), synthetic_faces(150, seed=6))
        assert result["flagged"] is False
        assert not result["metrics"]["contrast"]["flagged"] and not result["metrics"]["sharpness"]["flagged"]
        assert result["verdict"].startswith("No marked drift")

    def test_blurred_train_split_is_flagged(self) -> None:
        train = np.stack([cv2.GaussianBlur(face, (5, 5), 1.5) for face in synthetic_faces(300, seed=5)])
        result = drift_check(train, synthetic_faces(150, seed=6))
        assert result["flagged"] is True
        assert result["metrics"]["sharpness"]["flagged"]
        assert result["metrics"]["sharpness"]["relative_difference"] > 0.5
        assert result["verdict"].startswith("Marked drift: sharpness is") and "higher in test" in result["verdict"]

    def test_low_contrast_train_split_is_flagged(self) -> None:
        faces = synthetic_faces(300, seed=5).astype(np.float32)
        train = np.clip(128 + 0.7 * (faces - 128), 0, 255).astype(np.uint8)  # std ~54 -> ~38, as in the bad copy
        result = drift_check(train, synthetic_faces(150, seed=6))
        assert result["metrics"]["contrast"]["flagged"] and result["flagged"]
        # Read as "test has 43 % more contrast" (larger / smaller - 1), not "30 % less".
        assert result["metrics"]["contrast"]["relative_difference"] == pytest.approx(1 / 0.7 - 1, abs=0.05)
        assert "contrast" in result["verdict"]

    def test_the_gap_reads_as_how_much_higher_one_median_is(self) -> None:
        sharp = synthetic_faces(200, seed=5)
        soft = np.stack([cv2.GaussianBlur(face, (3, 3), 0.6) for face in sharp])
        result = drift_check(soft, sharp)
        metric = result["metrics"]["sharpness"]
        train, test = metric["train"]["quantiles"]["p50"], metric["test"]["quantiles"]["p50"]
        assert metric["relative_difference"] == pytest.approx(test / train - 1, abs=0.01)
        # The verdict box agrees with the number it reports: flagged exactly when above the alarm level.
        assert metric["flagged"] == (metric["relative_difference"] > DRIFT_THRESHOLDS["sharpness"])

    def test_summary_carries_the_drift_check(self) -> None:
        train = np.stack([cv2.GaussianBlur(face, (5, 5), 1.5) for face in synthetic_faces(140, seed=7)])
        summary = summarize(make_dataset(train, synthetic_faces(70, seed=8)))
        assert summary["drift"]["flagged"] is True
        metric = summary["drift"]["metrics"]["contrast"]
        assert len(metric["bin_edges"]) == 41 and len(metric["train"]["histogram"]) == 40
        assert sum(metric["train"]["histogram"]) == 140  # every image falls in a bin


def test_contrast_and_sharpness_measures() -> None:
    flat = np.full((2, 48, 48), 100, np.uint8)
    checker = np.indices((48, 48)).sum(axis=0) % 2 * 255
    stack = np.stack([flat[0], checker.astype(np.uint8)])
    np.testing.assert_allclose(image_contrast(stack), [0.0, 127.5], atol=1e-3)
    sharp = image_sharpness(stack)
    assert sharp[0] == 0.0 and sharp[1] > 1e5
    blurred = cv2.GaussianBlur(stack[1], (5, 5), 2.0)[None]
    assert image_sharpness(blurred)[0] < sharp[1] / 10


def test_the_imbalance_ratio_is_the_same_in_the_note_and_the_page() -> None:
    from fer_core.views import distribution_note, imbalance_ratio

    counts = {"happy": 7215, "disgust": 436, "angry": 1000}  # 16.548 : 1, rounded to 2 decimals 16.55
    summary = {"counts": {"train": counts}, "percentages": {"train": {k: 100 * v / 8651 for k, v in counts.items()}}}
    assert imbalance_ratio(summary) == pytest.approx(7215 / 436)
    assert f"{imbalance_ratio(summary):.1f} : 1" in distribution_note(summary)
    assert "16.5 : 1" in distribution_note(summary)

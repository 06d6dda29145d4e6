"""Tests for training (model cards), atomic artifact writes, card listing and hand-checked metrics."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from support.data import synthetic_dataset, tree_bytes

from fer_core import artifacts
from fer_core.artifacts import list_cards, load_model, read_card, write_artifact
from fer_core.cards import ModelCard
from fer_core.constants import EMOTIONS
from fer_core.data import FerDataset
from fer_core.errors import ModelNotFoundError
from fer_core.evaluation import evaluate, metrics_from_predictions
from fer_core.models import MODEL_NAMES, create_model, params_to_json
from fer_core.training import train_model


def fitted_logreg(seed: int = 0):
    """A logistic regression fitted in well under a second on synthetic faces."""
    dataset = synthetic_dataset(140, 14, seed=seed)
    return create_model("logreg", pca_components=5, max_iter=10).fit(dataset.x_train, dataset.y_train)


# --------------------------------------------------------------------------------------------
# Model cards written by train_model
# --------------------------------------------------------------------------------------------


class TestCard:
    def test_keras_card_has_every_field(self, zoo: Path, core_dataset: FerDataset) -> None:
        card = read_card(zoo / "cnn_basic")
        assert card.name == "cnn_basic" and card.family == "keras"
        assert card.display_name == "Basic CNN (seed)"
        assert card.params["epochs"] == 1 and card.params["seed"] == 42
        assert card.classes == list(EMOTIONS)
        assert card.preprocessing["input_kind"] == "image" and card.preprocessing["input_shape"] == [48, 48, 1]
        assert card.training_seconds > 0
        assert card.n_train + card.n_validation == 700 and card.limit == 700
        assert card.n_validation == 140  # 20 % stratified validation split
        model, _ = load_model("cnn_basic", zoo)
        assert card.n_parameters == model.n_parameters() > 100_000
        assert card.file == "model.keras"
        assert card.file_size_bytes == (zoo / "cnn_basic" / "model.keras").stat().st_size
        assert card.epochs_run == 1
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert len(card.history[key]) == 1 and np.isfinite(card.history[key][0])
        assert card.data_fingerprint == core_dataset.fingerprint
        created = dt.datetime.fromisoformat(card.created)
        assert created.tzinfo is not None
        assert abs((dt.datetime.now(dt.UTC) - created).total_seconds()) < 3600
        assert {"python", "numpy", "keras", "scikit-learn"} <= set(card.versions)

    def test_test_metrics_are_on_the_test_split(self, zoo: Path, core_dataset: FerDataset) -> None:
        card = read_card(zoo / "cnn_basic")
        metrics = card.test_metrics
        n_test = len(core_dataset.y_test)
        assert metrics["n"] == n_test
        matrix = np.array(metrics["confusion_matrix"])
        assert matrix.shape == (7, 7) and matrix.sum() == n_test
        np.testing.assert_array_equal(matrix.sum(axis=1), np.bincount(core_dataset.y_test, minlength=7))
        assert metrics["accuracy"] == pytest.approx(np.trace(matrix) / n_test, abs=1e-4)
        assert card.test_accuracy == pytest.approx(metrics["accuracy"], abs=1e-4)  # no TTA headline
        assert card.headline_tta is False and card.test_metrics_tta["tta"] is True
        for key in ("macro_f1", "weighted_f1", "macro_precision", "macro_recall"):
            assert 0.0 <= metrics[key] <= 1.0
        assert set(metrics["per_class"]) == set(EMOTIONS)

    def test_card_metrics_match_a_fresh_evaluation(self, zoo: Path, core_dataset: FerDataset) -> None:
        model, card = load_model("logreg", zoo)
        fresh = evaluate(model, core_dataset.x_test, core_dataset.y_test)
        assert card.test_accuracy == pytest.approx(fresh["accuracy"], abs=1e-4)
        assert card.test_metrics["confusion_matrix"] == fresh["confusion_matrix"]

    def test_sklearn_card(self, zoo: Path) -> None:
        card = read_card(zoo / "logreg")
        assert card.family == "sklearn" and card.file == "model.joblib"
        assert card.preprocessing["input_shape"] == [2304]
        assert card.params["pca_components"] == 20
        assert 0.0 <= card.history["val_accuracy"][0] <= 1.0
        assert card.validation_accuracy == pytest.approx(card.history["val_accuracy"][0], abs=1e-4)

    def test_card_is_valid_json_on_disk(self, zoo: Path) -> None:
        for name in ("logreg", "cnn_basic"):
            text = (zoo / name / "card.json").read_text()
            assert json.loads(text)["name"] == name

    def test_train_without_writing(self) -> None:
        dataset = synthetic_dataset(140, 14)
        result = train_model("logreg", dataset, params={"pca_components": 5, "max_iter": 10}, evaluate_on_test=False)
        assert result.path is None and result.card.test_metrics is None
        # Chosen on a 28-image validation split, then refit on all 140 (refit_full_train).
        assert result.card.n_train == 140 and result.card.n_validation == 28


# --------------------------------------------------------------------------------------------
# Atomic writes
# --------------------------------------------------------------------------------------------


class TestAtomicWrite:
    @pytest.fixture
    def models_dir(self, tmp_path: Path) -> Path:
        root = tmp_path / "models"
        model = fitted_logreg(0)
        write_artifact(model, ModelCard(name="logreg", params=params_to_json(model.params), extra={"version": 1}), root)
        return root

    def test_a_crash_while_saving_keeps_the_previous_artifact(
        self, models_dir: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        before = tree_bytes(models_dir)
        new_model = fitted_logreg(1)

        def crash(directory: Path) -> Path:
            (Path(directory) / "model.joblib").write_bytes(b"half a model")  # a partial write, then a crash
            raise RuntimeError("disk full")

        monkeypatch.setattr(new_model, "save", crash)
        with pytest.raises(RuntimeError, match="disk full"):
            write_artifact(new_model, ModelCard(name="logreg", extra={"version": 2}), models_dir)
        assert tree_bytes(models_dir) == before
        assert [p.name for p in models_dir.iterdir()] == ["logreg"]  # no temporary or backup folder left
        model, card = load_model("logreg", models_dir)
        assert card.extra["version"] == 1 and model.predict_proba(np.zeros((1, 48, 48), np.uint8)).shape == (1, 7)

    def test_a_failed_rename_restores_the_previous_artifact(
        self, models_dir: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        before = tree_bytes(models_dir)
        real_replace = artifacts.os.replace

        def failing_replace(src, dst) -> None:
            if Path(src).name.startswith(".logreg-"):  # moving the new, staged folder into place
                raise OSError("simulated crash during rename")
            real_replace(src, dst)

        monkeypatch.setattr(artifacts.os, "replace", failing_replace)
        with pytest.raises(OSError, match="simulated crash"):
            write_artifact(fitted_logreg(1), ModelCard(name="logreg", extra={"version": 2}), models_dir)
        assert tree_bytes(models_dir) == before
        assert [p.name for p in models_dir.iterdir()] == ["logreg"]

    def test_a_successful_write_replaces_the_artifact(self, models_dir: Path) -> None:
        write_artifact(fitted_logreg(1), ModelCard(name="logreg", extra={"version": 2}), models_dir)
        assert read_card(models_dir / "logreg").extra["version"] == 2
        assert sorted(p.name for p in (models_dir / "logreg").iterdir()) == ["card.json", "model.joblib"]
        # The replaced model is kept as an earlier version (restorable), nothing else is left behind.
        assert sorted(p.name for p in models_dir.iterdir()) == [".versions", "logreg"]
        assert [p.name for p in (models_dir / ".versions").iterdir()] == ["logreg"]


# --------------------------------------------------------------------------------------------
# Listing and loading cards
# --------------------------------------------------------------------------------------------


class TestListCards:
    @pytest.fixture
    def mixed_dir(self, tmp_path: Path, zoo: Path) -> Path:
        """logreg valid, cnn_basic with a corrupt card, mlp with a card but no model file, the rest absent."""
        root = tmp_path / "models"
        shutil.copytree(zoo / "logreg", root / "logreg")
        shutil.copytree(zoo / "cnn_basic", root / "cnn_basic")
        (root / "cnn_basic" / "card.json").write_text('{"name": "cnn_basic", "params": ')  # truncated JSON
        (root / "mlp").mkdir()
        (root / "mlp" / "card.json").write_text(json.dumps({"name": "mlp", "file": "model.keras", "params": {}}))
        (root / "lstm").mkdir()
        (root / "lstm" / "card.json").write_text(json.dumps({"name": "resnet", "params": {}}))
        return root

    def test_errors_are_entries_and_the_rest_stays_available(self, mixed_dir: Path) -> None:
        cards = list_cards(mixed_dir)
        assert list(cards) == list(MODEL_NAMES)
        assert cards.is_trained("logreg") and cards.cards["logreg"].name == "logreg"
        assert "unreadable" in cards.errors["cnn_basic"]
        assert "model file for mlp is missing" in cards.errors["mlp"]
        assert "does not describe a registered model" in cards.errors["lstm"]
        assert "not trained yet" in cards.errors["cnn"] and "not trained yet" in cards.errors["random_forest"]
        assert cards.trained == ["logreg"] and list(cards.missing) == [n for n in MODEL_NAMES if n != "logreg"]
        assert cards.best() == "logreg"

    def test_loading_a_broken_model_is_a_clear_error(self, mixed_dir: Path) -> None:
        with pytest.raises(ModelNotFoundError, match="unreadable"):
            load_model("cnn_basic", mixed_dir)
        with pytest.raises(ModelNotFoundError, match="could not be loaded"):
            load_model("mlp", mixed_dir)
        with pytest.raises(ModelNotFoundError, match="not trained yet"):
            load_model("cnn", mixed_dir)
        model, _ = load_model("logreg", mixed_dir)
        assert model.predict_proba(np.zeros((2, 48, 48), np.uint8)).shape == (2, 7)

    def test_models_dir_from_the_environment(self, mixed_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("FER_MODELS_DIR", str(mixed_dir))
        assert list_cards().trained == ["logreg"]

    def test_empty_models_dir(self, tmp_path: Path) -> None:
        assert list_cards(tmp_path).trained == [] and list_cards(tmp_path).best() is None


# --------------------------------------------------------------------------------------------
# Metrics, checked by hand
# --------------------------------------------------------------------------------------------


class TestMetricsFromPredictions:
    # Every class present. Per class (precision, recall, F1):
    # angry (1/2, 1/2, 1/2), disgust (1/2, 1, 2/3), fear (1, 1, 1), happy (1/2, 1/2, 1/2),
    # neutral (1, 1, 1), sad (1, 1, 1), surprise (1, 1/2, 2/3); supports 2, 1, 1, 2, 1, 1, 2.
    y_true = np.array([0, 0, 1, 2, 3, 3, 4, 5, 6, 6])
    y_pred = np.array([0, 1, 1, 2, 3, 0, 4, 5, 6, 3])

    def test_accuracy_and_averages(self) -> None:
        m = metrics_from_predictions(self.y_true, self.y_pred)
        assert m["n"] == 10 and m["accuracy"] == pytest.approx(0.7)
        assert m["macro_precision"] == pytest.approx(5.5 / 7)
        assert m["macro_recall"] == pytest.approx(5.5 / 7)
        assert m["macro_f1"] == pytest.approx((0.5 + 2 / 3 + 1 + 0.5 + 1 + 1 + 2 / 3) / 7)
        assert m["weighted_f1"] == pytest.approx((2 * 0.5 + 2 / 3 + 1 + 2 * 0.5 + 1 + 1 + 2 * 2 / 3) / 10)

    def test_per_class(self) -> None:
        per_class = metrics_from_predictions(self.y_true, self.y_pred)["per_class"]
        assert list(per_class) == list(EMOTIONS)
        assert per_class["disgust"] == pytest.approx({"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1})
        assert per_class["surprise"] == pytest.approx({"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2})
        assert per_class["angry"]["f1"] == pytest.approx(0.5)

    def test_confusion_matrix(self) -> None:
        matrix = np.array(metrics_from_predictions(self.y_true, self.y_pred)["confusion_matrix"])
        expected = np.diag([1, 1, 1, 1, 1, 1, 1])
        expected[0, 1] = 1  # an angry face called disgust
        expected[3, 0] = 1  # a happy face called angry
        expected[6, 3] = 1  # a surprised face called happy
        np.testing.assert_array_equal(matrix, expected)

    def test_perfect_predictions(self) -> None:
        m = metrics_from_predictions(self.y_true, self.y_true)
        assert m["accuracy"] == m["macro_f1"] == m["weighted_f1"] == 1.0

    def test_mismatched_lengths(self) -> None:
        with pytest.raises(ValueError, match="same length"):
            metrics_from_predictions(np.array([0, 1]), np.array([0]))


class TestStopAndRefit:
    def test_stop_skips_the_refit_and_keeps_the_partial_forest(self) -> None:
        from fer_core.progress import StopFlag

        dataset = synthetic_dataset(140, 14)
        stop = StopFlag()
        built: list[int] = []

        def on_event(event) -> None:  # noqa: ANN001 - a ProgressEvent
            if event.kind == "step":
                built.append(event.step)
                if event.step >= 10:
                    stop.set()  # the Stop button, pressed after 10 trees

        params = {"n_estimators": 40}
        result = train_model(
            "random_forest", dataset, params=params, callback=on_event, stop=stop, evaluate_on_test=False
        )
        assert result.card.stopped_early is True
        assert len(result.model.estimator_.estimators_) == max(built) >= 10  # not refit down to a few trees
        assert result.card.n_train == 112  # the refit on all 140 was skipped

"""Model cards: typed reading, validation and writing of card.json; the best model; parameter schemas."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fer_core.artifacts import list_cards, read_card, update_card
from fer_core.cards import ModelCard, ModelCards
from fer_core.constants import MODELS_DIR
from fer_core.errors import ModelNotFoundError
from fer_core.evaluation import metrics_from_predictions, rounded
from fer_core.jobs import JobManager
from fer_core.models import MODEL_NAMES, REGISTRY, create_model, get_spec
from fer_core.models.registry import params_by_model


def evaluated_card(name: str, accuracy: float, *, tta: bool = False) -> ModelCard:
    """A card whose test metrics come from predictions right ``accuracy`` of the time on 100 faces."""
    y_true = np.arange(100) % 7
    y_pred = np.where(np.arange(100) < round(100 * accuracy), y_true, (y_true + 1) % 7)
    metrics = rounded(metrics_from_predictions(y_true, y_pred))
    return ModelCard(
        name=name,
        test_accuracy=metrics["accuracy"],
        test_macro_f1=metrics["macro_f1"],
        test_metrics=metrics if not tta else {**metrics, "accuracy": 0.0},
        test_metrics_tta=metrics if tta else None,
        headline_tta=tta,
    )


class TestModelCard:
    @pytest.mark.parametrize("name", MODEL_NAMES)
    def test_every_shipped_card_reads_and_writes_back_unchanged(self, name: str) -> None:
        data = json.loads((MODELS_DIR / name / "card.json").read_text())
        card = ModelCard.from_dict(data)
        assert card.to_dict() == data
        assert list(card.to_dict()) == list(data)  # the same key order, so a rewritten card diffs cleanly
        assert card.evaluated and card.headline_accuracy == data["test_accuracy"]

    def test_unknown_keys_are_kept_in_extra(self) -> None:
        card = ModelCard.from_dict({"name": "mlp", "features_experiment": {"pixels_only": {}}, "note": "x"})
        assert card.extra == {"features_experiment": {"pixels_only": {}}, "note": "x"}
        assert card.to_dict()["note"] == "x" and not card.evaluated and card.headline_accuracy is None

    @pytest.mark.parametrize(
        ("data", "message"),
        [
            ([1, 2], "does not describe a registered model"),
            ({"name": "resnet"}, "does not describe a registered model"),
            ({"display_name": "no name"}, "does not describe a registered model"),
            ({"name": "cnn", "test_accuracy": "high"}, "'test_accuracy' is not a number"),
            ({"name": "cnn", "n_train": True}, "'n_train' is not a whole number"),
            ({"name": "cnn", "params": [1]}, "'params' is not an object"),
        ],
    )
    def test_invalid_cards_are_refused_with_a_reason(self, data: object, message: str) -> None:
        with pytest.raises(ModelNotFoundError, match=message):
            ModelCard.from_dict(data, source="This card")

    def test_a_card_with_a_wrong_type_is_listed_as_unavailable(self, tmp_path: Path) -> None:
        (tmp_path / "cnn").mkdir()
        (tmp_path / "cnn" / "card.json").write_text(json.dumps({"name": "cnn", "test_accuracy": "70%"}))
        (tmp_path / "cnn" / "model.keras").write_bytes(b"")
        cards = list_cards(tmp_path)
        assert not cards.is_trained("cnn") and "is not a number" in cards.errors["cnn"]
        with pytest.raises(ModelNotFoundError, match="unreadable"):
            read_card(tmp_path / "cnn")

    def test_headline_metrics_follow_the_tta_flag(self) -> None:
        plain, flipped = evaluated_card("cnn", 0.6), evaluated_card("cnn", 0.6, tta=True)
        assert plain.headline_metrics is plain.test_metrics
        assert flipped.headline_metrics is flipped.test_metrics_tta
        with pytest.raises(ValueError, match="not evaluated"):
            _ = ModelCard(name="cnn").headline_metrics

    def test_title_falls_back_to_the_registry(self) -> None:
        assert ModelCard(name="lstm").title == REGISTRY["lstm"].display_name
        assert ModelCard(name="lstm", display_name="Mine").title == "Mine"


class TestModelCards:
    def cards(self) -> ModelCards:
        return ModelCards(
            cards={
                "logreg": evaluated_card("logreg", 0.5),
                "cnn_basic": evaluated_card("cnn_basic", 0.55),
                "mlp": ModelCard(name="mlp"),  # trained without a test evaluation
                "lstm": evaluated_card("lstm", 0.8),
            },
            errors={"cnn": "not trained yet", "random_forest": "unreadable", "cnn_ferplus": "not trained yet"},
        )

    def test_trained_missing_and_evaluated_in_registry_order(self) -> None:
        cards = self.cards()
        assert list(cards) == list(MODEL_NAMES)
        assert cards.trained == ["logreg", "mlp", "lstm", "cnn_basic"]
        assert list(cards.evaluated) == ["logreg", "lstm", "cnn_basic"]
        untrained = "not trained yet"
        assert cards.missing == {"random_forest": "unreadable", "cnn": untrained, "cnn_ferplus": untrained}
        assert cards.is_trained("mlp") and not cards.is_trained("cnn")

    def test_best_model(self) -> None:
        cards = self.cards()
        assert cards.best() == "lstm"
        assert cards.best(among=["logreg", "cnn_basic", "cnn"]) == "cnn_basic"
        assert cards.best(among=["mlp"]) == "mlp"  # trained, just not evaluated
        assert cards.best(among=["cnn"]) is None
        assert ModelCards(cards={}, errors={}).best() is None
        assert cards.headline_accuracy("lstm") == pytest.approx(0.8) and cards.headline_accuracy("cnn") is None


class TestParameterSchemas:
    """Unknown parameters are refused in one place (ModelSpec.check_params), whoever asks."""

    def test_defaults_fill_in_and_unknown_keys_are_refused(self) -> None:
        assert create_model("logreg", C=0.5).params == {**get_spec("logreg").default_params, "C": 0.5}
        with pytest.raises(ValueError, match=r"Unknown parameter\(s\) for logreg: colour\. Valid: C, "):
            create_model("logreg", colour="red")

    def test_the_jobs_and_the_cli_use_the_same_check(self, tmp_path: Path) -> None:
        message = r"Unknown parameter\(s\) for cnn: depth\."
        with pytest.raises(ValueError, match=message):
            JobManager(runs_dir=tmp_path).start("cnn", params={"depth": 3})
        with pytest.raises(ValueError, match=message):
            params_by_model(["cnn"], {"depth": 3})

    def test_parameters_for_several_models_go_where_they_belong(self) -> None:
        split = params_by_model(["logreg", "cnn"], {"C": 0.1, "epochs": 2})
        assert split == {"logreg": {"C": 0.1}, "cnn": {"epochs": 2}}
        with pytest.raises(ValueError, match=r"for logreg, cnn: nope"):
            params_by_model(["logreg", "cnn"], {"nope": 1})

    def test_saved_params_fill_legacy_values_and_drop_retired_keys(self) -> None:
        spec = get_spec("mlp")
        assert spec.saved_params({"epochs": 3, "retired": 1}) == {"features": "pixels", "epochs": 3}

    def test_an_explicit_epoch_count_means_one_network(self) -> None:
        assert create_model("cnn").params["ensemble_epochs"] == [60]  # the CPU recipe: one network
        assert create_model("cnn_ferplus").params["ensemble_epochs"] == [14, 14]
        assert create_model("cnn_ferplus", epochs=5).params["ensemble_epochs"] == [5]


class TestUpdateCard:
    def test_only_the_card_changes(self, zoo: Path, tmp_path: Path) -> None:
        import shutil

        shutil.copytree(zoo / "logreg", tmp_path / "logreg")
        model_bytes = (tmp_path / "logreg" / "model.joblib").read_bytes()
        card = read_card(tmp_path / "logreg")
        card.ferplus_test = {"n": 10, "accuracy": 0.5, "fer2013_label_agreement": 0.6}
        update_card(card, tmp_path)
        again = read_card(tmp_path / "logreg")
        assert again.ferplus_accuracy == 0.5 and again.test_accuracy == card.test_accuracy
        assert (tmp_path / "logreg" / "model.joblib").read_bytes() == model_bytes
        assert sorted(p.name for p in (tmp_path / "logreg").iterdir()) == ["card.json", "model.joblib"]

    def test_a_model_that_is_not_installed_is_refused(self, tmp_path: Path) -> None:
        with pytest.raises(ModelNotFoundError, match="not trained yet"):
            update_card(ModelCard(name="cnn"), tmp_path)

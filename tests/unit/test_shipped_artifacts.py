"""The models shipped in artifacts/: they load and predict with no dataset, and are not broken.

A guard against shipping a damaged or wrong model, not a timing test: each model's accuracy on a
fixed sample of 500 test images must stay above a floor well under its card's number.
"""

from __future__ import annotations

import numpy as np
import pytest
from support.data import DATA_DIR, HAS_DATA, NO_DATA_REASON

from fer_core.artifacts import list_cards, load_model
from fer_core.cards import ModelCard, ModelCards
from fer_core.constants import MODELS_DIR, NUM_CLASSES
from fer_core.models import MODEL_NAMES

#: Floors on 500 test faces: a few points under each card's test accuracy (binomial noise on 500
#: images is about +-2 points), far above chance (0.25 for always answering "happy").
#: The FER+ CNN is judged against FER2013's labels here (0.605 on all of test; it learned the crowd's).
FLOORS = {
    "logreg": 0.43,
    "random_forest": 0.43,
    "mlp": 0.50,
    "lstm": 0.44,
    "cnn_basic": 0.49,
    "cnn": 0.64,
    "cnn_ferplus": 0.55,
}


@pytest.fixture(autouse=True)
def shipped_models_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FER_MODELS_DIR", raising=False)


@pytest.fixture(scope="module")
def test_sample() -> tuple[np.ndarray, np.ndarray]:
    if not HAS_DATA:
        pytest.skip(NO_DATA_REASON)
    from fer_core.data import load_dataset

    dataset = load_dataset(DATA_DIR)
    index = np.random.default_rng(0).choice(len(dataset.y_test), size=500, replace=False)
    return dataset.x_test[index], dataset.y_test[index]


def test_every_model_is_shipped() -> None:
    cards = list_cards(MODELS_DIR)
    missing = cards.missing
    assert not missing
    root = MODELS_DIR.parent
    files = [f for f in root.rglob("*") if f.is_file()]
    shipped = [f for f in files if not any(part.startswith(".") for part in f.relative_to(root).parts)]
    total = sum(f.stat().st_size for f in shipped)  # not the git-ignored .versions/ that installs keep
    assert total <= 30_000_000, f"artifacts/ is {total / 1e6:.1f} MB, over the 30 MB budget"


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_loads_and_predicts_without_the_dataset(name: str) -> None:
    model, card = load_model(name, MODELS_DIR)
    faces = np.random.default_rng(1).integers(0, 256, size=(5, 48, 48), dtype=np.uint8)
    proba = model.predict_proba(faces)
    assert proba.shape == (5, NUM_CLASSES)
    assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-4) and not np.isnan(proba).any()
    assert card.classes == ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_accuracy_on_500_test_faces_stays_above_a_floor(name: str, test_sample: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = test_sample
    model, card = load_model(name, MODELS_DIR)
    accuracy = float((model.predict(x, tta=card.headline_tta) == y).mean())
    assert accuracy >= FLOORS[name], f"{name}: {accuracy:.3f} on 500 test faces (card: {card.test_accuracy})"


def test_the_features_lesson_comes_from_the_shipped_cards() -> None:
    """logreg and the MLP record both input choices; the comparison page charts them from the cards."""
    from fer_core.views import features_lesson, features_note

    cards = list_cards(MODELS_DIR)
    lesson = features_lesson(cards).pivot(index="model", columns="features", values="accuracy")
    assert set(lesson.index) == {cards.cards["logreg"].title, cards.cards["mlp"].title}
    for name in ("logreg", "mlp"):
        row = lesson.loc[cards.cards[name].title]
        assert row["HOG + pixels"] == cards.cards[name].test_accuracy  # the shipped model is the HOG one
        assert row["HOG + pixels"] > row["pixels only"]
    assert f"{lesson.loc[cards.cards['mlp'].title, 'pixels only']:.1%}" in features_note(features_lesson(cards))


def test_a_card_with_half_a_features_experiment_is_left_out() -> None:
    from fer_core.views import features_lesson

    card = ModelCard.from_dict(
        {"name": "mlp", "test_accuracy": 0.5, "test_metrics": {}, "features_experiment": {"pixels_only": {}}}
    )
    assert card.evaluated and features_lesson(ModelCards(cards={"mlp": card}, errors={})).empty

"""Store shipped Keras models' weights in half precision (half the file), after checking they still agree.

For each named model: load it, save its weights as float16 into a temporary folder, load that back
(as float32, the way the app loads it) and compare, on the whole FER2013 test split with the card's
TTA setting, the top emotions and the probabilities of both. Only if every test face keeps its top
emotion (so every accuracy in the card still holds) is the file replaced and the card updated
(``file_size_bytes``, ``weights_stored_as``); otherwise nothing is written. Needs FER_DATA_DIR::

    python -m tools.halve_keras cnn cnn_ferplus

With ``--accept-changes`` a model whose top emotion changes on a few test faces is halved anyway,
and its card's test numbers (with and without TTA, and against the FER+ majority) are measured
again on the halved file and the number of changed answers recorded; run
``python -m tools.calibrate_cards NAME`` afterwards to refit its calibration.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from fer_core.artifacts import load_model, model_dir, update_card
from fer_core.data import load_dataset
from fer_core.models.keras_models import KerasModel


def main() -> None:
    accept = "--accept-changes" in sys.argv
    dataset = load_dataset()
    x, y = dataset.x_test, dataset.y_test
    for name in [a for a in sys.argv[1:] if not a.startswith("--")]:
        model, card = load_model(name)
        if not isinstance(model, KerasModel):
            raise SystemExit(f"{name} is not a Keras model")
        with tempfile.TemporaryDirectory() as folder:
            path = model.save(Path(folder), float16=True)
            halved = KerasModel.load(model.spec, card.params, Path(folder))
            halved.temperature = model.temperature
            before = model.predict_proba(x, tta=card.headline_tta)
            after = halved.predict_proba(x, tta=card.headline_tta)
            same_top = float((before.argmax(1) == after.argmax(1)).mean())
            accuracy = (float((before.argmax(1) == y).mean()), float((after.argmax(1) == y).mean()))
            gap = float(np.abs(before - after).max())
            print(
                f"{name}: {path.stat().st_size / 1e6:.2f} MB (was {card.file_size_bytes / 1e6:.2f}); "
                f"same top emotion on {same_top:.4%} of test faces; accuracy {accuracy[0]:.4f} -> {accuracy[1]:.4f}; "
                f"largest probability change {gap:.4f}"
            )
            if same_top < 1.0 and not accept:
                print(f"{name}: some answers changed; file kept in float32 (--accept-changes halves it anyway)")
                continue
            shutil.copyfile(path, model_dir(name) / model.spec.file_name)
            card.file_size_bytes = path.stat().st_size
            card.extra["weights_stored_as"] = "float16 for arrays of 4,096 numbers or more, float32 for the rest"
            if same_top < 1.0:
                remeasure(card, halved, dataset)
                changed = int(round((1 - same_top) * len(y)))
                card.extra["halving_changed_answers"] = (
                    f"{changed} of {len(y):,} test answers changed when the weights were stored in half precision "
                    f"(largest probability change {gap:.4f}); the test numbers here are the halved file's"
                )
            update_card(card)


def remeasure(card: Any, model: KerasModel, dataset: Any) -> None:
    """The card's test numbers measured again on ``model`` (the halved weights)."""
    from fer_core.evaluation import evaluate, rounded
    from fer_core.ferplus import CREDIT, FerPlusTest

    plain = evaluate(model, dataset.x_test, dataset.y_test)
    tta = evaluate(model, dataset.x_test, dataset.y_test, tta=True) if card.test_metrics_tta else None
    card.test_metrics = rounded(plain)
    card.test_metrics_tta = rounded(tta) if tta else None
    headline = tta if (card.headline_tta and tta) else plain
    card.test_accuracy, card.test_macro_f1 = round(headline["accuracy"], 4), round(headline["macro_f1"], 4)
    if card.ferplus_test:
        plus = FerPlusTest.load(dataset.source)
        result = plus.score(model.predict(plus.faces, tta=card.headline_tta))
        card.ferplus_test = {**rounded(result), "tta": card.headline_tta, "credit": CREDIT}


if __name__ == "__main__":
    main()

"""Calibrate the shipped models: temperature and "not sure" threshold on validation, ECE on test.

For every installed model this fits :func:`fer_core.calibration.calibrate` on the validation split
its card names (the stratified split carved from train with the card's seed and fraction), measures
the expected calibration error on the test split before and after, and writes it into the card
(``calibration``). A FER+ model is fitted and judged against the clear FER+ majority of the same
faces. Run once after training (needs FER_DATA_DIR and the FER+ votes)::

    python -m tools.calibrate_cards [NAME ...]
"""

from __future__ import annotations

import sys

import numpy as np

from fer_core.artifacts import list_cards, load_model, update_card
from fer_core.calibration import calibrate
from fer_core.data import load_dataset, validation_split
from fer_core.ferplus import NO_MAJORITY, FerPlusTest
from fer_core.models import create_model
from fer_core.training import ferplus_training_set

REFIT_NOTE = (
    "This model was refitted on all of train after selection, so it has seen the validation faces: the "
    "temperature and threshold were fitted on the answers of a copy trained without them (same parameters)."
)


def main() -> None:
    dataset = load_dataset()
    cards = list_cards()
    names = sys.argv[1:] or list(cards.trained)
    plus = FerPlusTest.load(dataset.source)
    majority = plus.votes.majority
    clear = majority != NO_MAJORITY
    for name in names:
        model, card = load_model(name)
        model.temperature = 1.0
        params = card.params
        seed, fraction = int(params.get("seed", 42)), float(params.get("validation_fraction", 0.1))
        if card.labels == "ferplus":
            x, shares = ferplus_training_set(dataset, None, seed)
            y = shares.argmax(axis=1)
            x_test, y_test = plus.faces[clear], majority[clear]
        else:
            x, y = dataset.x_train, dataset.y_train
            x_test, y_test = dataset.x_test, dataset.y_test
        fit_idx, _, val_idx, _ = validation_split(np.arange(len(y)), y, fraction, seed)
        judge = model
        if params.get("refit_full_train"):
            print(f"{name}: training a copy without the validation faces…", flush=True)
            judge = create_model(name, **card.params).fit(x[fit_idx], y[fit_idx])
        val_proba = judge.predict_proba(x[val_idx], tta=card.headline_tta)
        test_proba = model.predict_proba(x_test, tta=card.headline_tta)
        note = REFIT_NOTE if params.get("refit_full_train") else ""
        result = calibrate(val_proba, y[val_idx], test_proba, y_test, note=note)
        card.calibration = result.to_dict()
        update_card(card)
        print(
            f"{name}: T={result.temperature:.3f} not sure below {result.not_sure_below:.2f}; "
            f"test ECE {result.ece_before:.4f} -> {result.ece_after:.4f} (validation {len(val_idx)} faces)"
        )


if __name__ == "__main__":
    main()

"""Record every installed model's accuracy against the FER+ crowd majority in its card.

Usage: ``python tools/ferplus_cards.py [--data DIR] [--votes VOTES.csv]``. Evaluation only: the test
rows of the FER+ votes are never used to choose anything. Each card gets ``ferplus_test`` (the same
flip-TTA setting as its headline number) and the FER+ credit; the model files are not touched.
"""

from __future__ import annotations

import argparse

from fer_core.artifacts import list_cards, load_model, update_card
from fer_core.evaluation import rounded
from fer_core.ferplus import CREDIT, FerPlusTest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data")
    parser.add_argument("--votes")
    args = parser.parse_args()
    ferplus = FerPlusTest.load(args.data, args.votes)
    for name in list_cards().trained:
        model, card = load_model(name)
        result = ferplus.score(model.predict(ferplus.faces, tta=card.headline_tta))
        card.ferplus_test = {**rounded(result), "tta": card.headline_tta, "credit": CREDIT}
        update_card(card)
        print(f"{name}: {result['accuracy']:.4f} against the FER+ majority on {result['n']:,} test faces")


if __name__ == "__main__":
    main()

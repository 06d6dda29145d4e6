"""Print the README's results table from the shipped model cards."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from fer_core.artifacts import list_cards

SEED_NOTEBOOK = {"logreg": 0.328, "random_forest": 0.454, "mlp": 0.284, "lstm": 0.412, "cnn_basic": 0.549, "cnn": 0.617}
TARGETS = {
    "logreg": ">= 0.38",
    "random_forest": ">= 0.47",
    "mlp": ">= 0.48",
    "lstm": ">= 0.50",
    "cnn_basic": "0.55 ± 0.03",
    "cnn": ">= 0.70",
}


def main() -> None:
    print("| model | test accuracy | macro-F1 | flip TTA | seed notebook | target | parameters | file MB | training |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, card in list_cards().items():
        if "error" in card:
            print(f"| {name} | not trained | | | {SEED_NOTEBOOK[name]} | {TARGETS[name]} | | | |")
            continue
        minutes = card["training_seconds"] / 60
        where = "GPU (H100)" if "trained_on" in card else "CPU (2 cores)"
        print(
            f"| {card['display_name']} (`{name}`) | {card['test_accuracy']:.4f} | {card['test_macro_f1']:.4f} | "
            f"{'yes' if card['headline_tta'] else 'no'} | {SEED_NOTEBOOK[name]} | {TARGETS[name]} | "
            f"{card['n_parameters']:,} | {card['file_size_bytes'] / 1e6:.1f} | {minutes:.1f} min, {where} |"
        )


if __name__ == "__main__":
    main()

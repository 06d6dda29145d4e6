"""Print the README's results table from the shipped model cards."""

from __future__ import annotations

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
    cards = list_cards()
    for name in cards:
        card = cards.cards.get(name)
        if card is None or not card.evaluated:
            print(f"| {name} | not trained | | | {SEED_NOTEBOOK[name]} | {TARGETS[name]} | | | |")
            continue
        minutes = (card.training_seconds or 0.0) / 60
        where = "GPU (H100)" if "trained_on" in card.extra else "CPU (2 cores)"
        print(
            f"| {card.title} (`{name}`) | {card.test_accuracy:.4f} | {card.test_macro_f1:.4f} | "
            f"{'yes' if card.headline_tta else 'no'} | {SEED_NOTEBOOK[name]} | {TARGETS[name]} | "
            f"{card.n_parameters or 0:,} | {(card.file_size_bytes or 0) / 1e6:.1f} | {minutes:.1f} min, {where} |"
        )


if __name__ == "__main__":
    main()

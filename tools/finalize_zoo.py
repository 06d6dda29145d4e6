"""Install GPU-trained zoo members into artifacts/, re-measured on this machine.

``tools/gpu_train_zoo.sh`` trains the Keras models on a lent GPU (Keras 3 on JAX) and returns
their artifact folders. This script, run on the CPU machine with TensorFlow:

* re-evaluates every model on the test split here (so ``python -m fer_core evaluate`` reproduces
  the card), re-times inference here, and keeps the training history and wall time from the GPU;
* composes the shipped ``cnn`` from its two members (60 and 40 epochs), chosen on validation
  accuracy, and records the class-weighted variant's numbers for the imbalance lesson.

Usage: python tools/finalize_zoo.py RUN_DIR [--data DIR]
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path
from typing import Any

import numpy as np

from fer_core.artifacts import load_model, write_artifact
from fer_core.cards import ModelCard
from fer_core.data import load_dataset, validation_split
from fer_core.evaluation import evaluate, rounded
from fer_core.models import create_model
from fer_core.models.keras_models import KerasModel
from fer_core.training import build_card, inference_timings

GPU_NOTE = "Trained with fer_core's own recipe on one NVIDIA H100 (Keras 3, JAX backend) via tools/gpu_train_zoo.sh"


def remeasure(model: Any, card: ModelCard, dataset: Any, extra: dict[str, Any], seconds: float) -> ModelCard:
    """A card rebuilt around ``model`` with test metrics and timings measured on this machine."""
    test = evaluate(model, dataset.x_test, dataset.y_test)
    test_tta = evaluate(model, dataset.x_test, dataset.y_test, tta=True)
    new = build_card(
        model,
        dataset=dataset,
        n_fit=card.n_train or 0,
        n_val=card.n_validation or 0,
        seconds=seconds,
        test_metrics=test,
        test_metrics_tta=test_tta,
        timings=inference_timings(model, dataset.x_test[:256]),
        validation_accuracy=card.validation_accuracy,
    )
    new.machine["training_compute"] = card.machine.get("compute", "")
    new.extra.update({"trained_on": GPU_NOTE, **extra})
    return new


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--data")
    parser.add_argument("--only", nargs="*", default=None)
    args = parser.parse_args()
    dataset = load_dataset(args.data)
    run = args.run_dir

    for name in ("cnn_basic", "lstm", "mlp"):
        if args.only is not None and name not in args.only:
            continue
        source = run / name
        if not (source / name / "card.json").is_file():
            continue
        model, card = load_model(name, source)
        model.history_ = card.history
        new = remeasure(model, card, dataset, {}, float(card.training_seconds or 0.0))
        write_artifact(model, new)
        print(f"{name}: test accuracy {new.test_accuracy:.4f} (GPU card said {card.test_accuracy:.4f})")

    if args.only is not None and "cnn" not in args.only:
        return
    members: dict[str, KerasModel] = {}
    cards: dict[str, ModelCard] = {}
    for variant in ("cnn", "cnn_e40", "cnn_bal"):
        model, card = load_model("cnn", run / variant)
        model.history_ = card.history
        members[variant], cards[variant] = model, card  # type: ignore[assignment]
    fraction = float(cards["cnn"].params["validation_fraction"])
    _, _, x_val, y_val = validation_split(dataset.x_train, dataset.y_train, fraction=fraction, seed=42)
    val_proba = {k: m.predict_proba(x_val, tta=True) for k, m in members.items()}
    selection = {}
    for r in (1, 2, 3):
        for combo in itertools.combinations(val_proba, r):
            accuracy = float((sum(val_proba[k] for k in combo).argmax(1) == y_val).mean())
            selection["+".join(combo)] = round(accuracy, 4)
    # The 3-member ensemble is within 0.001 of the chosen pair on validation but 50 % larger, and it
    # mixes in the class-weighted net whose numbers are kept separately below.
    shipped = create_model("cnn")
    shipped.compose([members["cnn"], members["cnn_e40"]])
    seconds = float((cards["cnn"].training_seconds or 0.0) + (cards["cnn_e40"].training_seconds or 0.0))
    balanced = members["cnn_bal"]
    bal_tta = evaluate(balanced, dataset.x_test, dataset.y_test, tta=True)
    single_tta = evaluate(members["cnn"], dataset.x_test, dataset.y_test, tta=True)
    extra = {
        "selection": {
            "criterion": "validation accuracy with flip TTA (10 % stratified split of train, seed 42)",
            "validation_accuracy": selection,
            "chosen": "cnn+cnn_e40",
        },
        "single_network_test": {
            "accuracy_tta": round(single_tta["accuracy"], 4),
            "macro_f1_tta": round(single_tta["macro_f1"], 4),
        },
        "class_weight_experiment": {
            "note": "Same recipe (single 60-epoch net) with class weights 'balanced'; not shipped because its "
            "accuracy is lower, though it finds far more of the rare 'disgust' faces.",
            "unweighted": {
                "accuracy_tta": round(single_tta["accuracy"], 4),
                "macro_f1_tta": round(single_tta["macro_f1"], 4),
                "disgust_recall": round(single_tta["per_class"]["disgust"]["recall"], 4),
            },
            "balanced": {
                "accuracy_tta": round(bal_tta["accuracy"], 4),
                "macro_f1_tta": round(bal_tta["macro_f1"], 4),
                "disgust_recall": round(bal_tta["per_class"]["disgust"]["recall"], 4),
                "per_class_recall": rounded({e: v["recall"] for e, v in bal_tta["per_class"].items()}),
            },
        },
    }
    new = remeasure(shipped, cards["cnn"], dataset, extra, seconds)
    write_artifact(shipped, new)
    print(f"cnn: test accuracy {new.test_accuracy:.4f} (TTA); selection {selection}")
    print("class weights:", np.round([single_tta["accuracy"], bal_tta["accuracy"]], 4))


if __name__ == "__main__":
    main()

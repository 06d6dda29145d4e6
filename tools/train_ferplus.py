"""Train the FER+ CNN: the shipped best CNN's first network, fine-tuned on the FER+ crowd votes.

Targets are the FER+ vote shares over our seven emotions (soft labels, Barsoum et al. 2016's
"cross-entropy" scheme); faces whose most-voted column is contempt, unknown or not-a-face are left
out. A stratified 10 % of the FER+ train rows (seed 42) is held out for validation; the epoch with
the best validation accuracy against the FER+ majority is kept. The FER2013 test split is never
looked at here.

Resumable: a checkpoint (weights and optimizer state) is written after every epoch to ``--out``;
running the same command again continues from the last finished epoch. Run it in the background::

    nohup python -m tools.train_ferplus --out logs/ferplus > logs/ferplus.log 2>&1 &

and the second network (``--member 1 --out logs/ferplus1``); then
``python -m tools.train_ferplus --out logs/ferplus --also logs/ferplus1 --install`` averages the two
best epochs into the ``cnn_ferplus`` artifact, and ``python -m tools.halve_keras cnn_ferplus``
stores it in half precision.

``--refit`` trains on every FER+ training face, the validation tenth included, for a number of epochs
chosen beforehand on validation (both shipped runs peaked at their 14th and last epoch). Nothing is
held out, so each epoch is simply saved; ``--install`` then keeps the installed model's temperature
(fitted on held-out faces) instead of fitting a new one on faces the networks have seen::

    nohup python -m tools.train_ferplus --refit --bf16 --out logs/ferplus-refit0 > logs/ferplus-refit0.log 2>&1 &
    nohup python -m tools.train_ferplus --refit --bf16 --member 1 --out logs/ferplus-refit1 > ... &
    python -m tools.train_ferplus --out logs/ferplus-refit0 --also logs/ferplus-refit1 --install
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from fer_core import artifacts
from fer_core.data import resolve_data_dir, validation_split
from fer_core.ferplus import NO_MAJORITY, load_faces, read_votes, resolve_votes_path, soft_targets
from fer_core.models.augment import photo_augment
from fer_core.models.networks import build_cnn_single, keras_module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("logs/ferplus"))
    parser.add_argument("--epochs", type=int, default=14)
    parser.add_argument("--learning-rate", type=float, default=0.01)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--limit", type=int, default=0, help="train on this many faces only (smoke runs)")
    parser.add_argument("--member", type=int, default=0, help="which network of the ensemble this run trains")
    parser.add_argument(
        "--start-from", type=int, default=None, help="which network of the shipped Best CNN to start from (--member)"
    )
    parser.add_argument(
        "--scratch", action="store_true", help="start from random weights (2 warm-up epochs, then cosine decay)"
    )
    parser.add_argument(
        "--targets", choices=["soft", "majority"], default="soft", help="vote shares, or one-hot of the most votes"
    )
    parser.add_argument("--bf16", action="store_true", help="mixed bfloat16 (AVX512_BF16/AMX CPUs)")
    parser.add_argument(
        "--refit", action="store_true", help="train on the validation faces too, for --epochs chosen beforehand"
    )
    parser.add_argument("--install", action="store_true", help="write the best epoch(s) as the cnn_ferplus artifact")
    parser.add_argument("--also", type=Path, nargs="*", default=[], help="with --install: more runs to average")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    keras = keras_module()
    if args.bf16:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")

    votes = read_votes(resolve_votes_path(), "train")
    keep, shares = soft_targets(votes)
    faces = load_faces(resolve_data_dir(), votes)
    x_all = faces[keep].astype(np.float32) / 255.0
    y_all = shares[keep]
    if args.targets == "majority":  # one-hot of the most-voted emotion (ties: the first in EMOTIONS order)
        y_all = np.eye(y_all.shape[1], dtype=np.float32)[y_all.argmax(axis=1)]
    majority = votes.majority[keep]
    index = np.arange(len(x_all))
    fit_idx, _, val_idx, _ = validation_split(index, y_all.argmax(axis=1), 0.1, args.seed)
    if args.refit:  # every face trains; the epochs were chosen on validation by the runs that held it out
        fit_idx = np.sort(np.concatenate([fit_idx, val_idx]))
    if args.limit:
        fit_idx = fit_idx[: args.limit]
    x_fit, y_fit = x_all[fit_idx], y_all[fit_idx]
    x_val, maj_val = x_all[val_idx], majority[val_idx]
    clear_val = maj_val != NO_MAJORITY
    held_out = (
        "none: a refit trains on them too"
        if args.refit
        else f"{len(x_val)} ({int(clear_val.sum())} with a clear majority)"
    )
    print(f"train {len(x_fit)}, validation {held_out}", flush=True)

    shipped, _ = artifacts.load_model("cnn")
    params = {**shipped.params, "ensemble_epochs": [], "epochs": args.epochs}
    state_path = args.out / "state.json"
    ckpt = args.out / "checkpoint.keras"
    state = json.loads(state_path.read_text()) if state_path.exists() else {"epoch": 0, "history": []}
    state["refit"] = bool(args.refit)
    steps = int(np.ceil(len(x_fit) / args.batch_size))
    if ckpt.exists() and state["epoch"] > 0:
        model = keras.saving.load_model(ckpt, compile=True)
        print(f"resumed after epoch {state['epoch']}", flush=True)
    else:
        model = build_cnn_single(params, "cnn")
        if args.scratch:  # the best CNN's own recipe: warm up to the rate over 2 epochs, then cosine
            schedule = keras.optimizers.schedules.CosineDecay(
                0.0, decay_steps=(args.epochs - 2) * steps, warmup_target=args.learning_rate, warmup_steps=2 * steps
            )
        else:
            start = args.member if args.start_from is None else args.start_from
            model.set_weights(shipped.model_.get_layer(f"cnn_member_{start}").get_weights())
            schedule = keras.optimizers.schedules.CosineDecay(args.learning_rate, decay_steps=args.epochs * steps)
        model.compile(
            optimizer=keras.optimizers.SGD(learning_rate=schedule, momentum=0.9, nesterov=True),
            loss=keras.losses.CategoricalCrossentropy(),
            metrics=["accuracy"],
        )

    if args.install:
        install([args.out, *args.also], len(x_fit), 0 if args.refit else len(x_val))
        return

    class Batches(keras.utils.PyDataset):
        def __init__(self) -> None:
            super().__init__()
            self.rng = np.random.default_rng(args.seed + 1000 * args.member + state["epoch"])
            self.order = self.rng.permutation(len(x_fit))

        def __len__(self) -> int:
            return steps

        def __getitem__(self, i: int):  # noqa: ANN204
            idx = self.order[i * args.batch_size : (i + 1) * args.batch_size]
            xb = photo_augment(x_fit[idx], {}, self.rng)
            return xb[..., None], y_fit[idx]

        def on_epoch_end(self) -> None:
            self.order = self.rng.permutation(len(x_fit))

    def val_accuracy() -> float:
        probs = model.predict(x_val[..., None], batch_size=512, verbose=0)
        probs = probs + model.predict(x_val[:, :, ::-1, None], batch_size=512, verbose=0)
        return float((probs.argmax(axis=1)[clear_val] == maj_val[clear_val]).mean())

    class Checkpoint(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs=None) -> None:  # noqa: ANN001
            acc = None if args.refit else val_accuracy()  # a refit holds nothing out: the last epoch is kept
            entry = {
                "epoch": epoch + 1,
                "loss": float((logs or {}).get("loss", np.nan)),
                "val_ferplus_majority_tta": acc,
                "seconds": round(time.perf_counter() - self.started, 1),
            }
            state["history"].append(entry)
            state["epoch"] = epoch + 1
            if acc is None or acc >= max(h["val_ferplus_majority_tta"] for h in state["history"]):
                model.save_weights(args.out / "best.weights.h5")
                state["best_epoch"] = epoch + 1
            model.save(ckpt)
            state_path.write_text(json.dumps(state, indent=1))
            print(json.dumps(entry), flush=True)
            self.started = time.perf_counter()

    if state["epoch"] == 0 and not args.refit:
        print(json.dumps({"epoch": 0, "val_ferplus_majority_tta": val_accuracy()}), flush=True)
    model.fit(Batches(), epochs=args.epochs, initial_epoch=state["epoch"], callbacks=[Checkpoint()], verbose=0)


def install(folders: list[Path], n_train: int, n_val: int) -> None:
    """Average the best epochs of the runs in ``folders`` into the ``cnn_ferplus`` artifact.

    Evaluated and calibrated like any model: FER2013 test accuracy, accuracy against the FER+
    majority, and temperature scaling fitted on the validation faces of the runs (the same split).
    """
    from fer_core.calibration import calibrate
    from fer_core.data import load_dataset
    from fer_core.evaluation import evaluate
    from fer_core.models import get_spec
    from fer_core.models.keras_models import KerasModel
    from fer_core.training import build_card, ferplus_score, inference_timings

    spec = get_spec("cnn_ferplus")
    states = [json.loads((folder / "state.json").read_text()) for folder in folders]
    model = KerasModel(spec, {"ensemble_epochs": [state["epoch"] for state in states]})
    model.model_ = spec.builder(model.params)
    histories = []
    for i, (folder, state) in enumerate(zip(folders, states)):
        single = build_cnn_single(model.params, "cnn")
        single.load_weights(folder / "best.weights.h5")
        member = model.model_.get_layer(f"cnn_member_{i}") if len(folders) > 1 else model.model_
        member.set_weights(single.get_weights())
        epochs = [h for h in state["history"] if "loss" in h]
        history = {"loss": [h["loss"] for h in epochs]}
        if not state.get("refit"):  # a refit has no validation curve
            history["val_accuracy"] = [h["val_ferplus_majority_tta"] for h in epochs]
        histories.append(history)
    model.history_, model.member_histories_ = histories[0], histories
    dataset = load_dataset()
    test_metrics = evaluate(model, dataset.x_test, dataset.y_test)
    test_tta = evaluate(model, dataset.x_test, dataset.y_test, tta=True)
    plus, plus_set = ferplus_score(model, dataset)
    votes = read_votes(resolve_votes_path(), "train")
    keep, shares = soft_targets(votes)
    faces = load_faces(resolve_data_dir(), votes)[keep]
    y = shares[keep].argmax(axis=1)
    majority_train = votes.majority[keep]
    _, _, val_idx, _ = validation_split(np.arange(len(y)), y, 0.1, int(model.params["seed"]))
    val_proba = model.predict_proba(faces[val_idx], tta=True)
    clear_val = majority_train[val_idx] != NO_MAJORITY
    val_accuracy: float | None = float(
        (val_proba.argmax(axis=1)[clear_val] == majority_train[val_idx][clear_val]).mean()
    )
    majority = plus_set.votes.majority
    clear = majority != NO_MAJORITY
    test_proba = model.predict_proba(plus_set.faces[clear], tta=True)
    refit = any(state.get("refit") for state in states)
    if refit:  # the validation faces were trained on: keep the installed model's temperature, fitted held out
        n_train, n_val = n_train + n_val, 0
        installed = artifacts.read_card(artifacts.model_dir("cnn_ferplus"))
        kept = (installed.temperature, installed.not_sure_below)
        calibration = calibrate(val_proba, y[val_idx], test_proba, majority[clear], fitted=kept)
        val_accuracy = None
    else:
        calibration = calibrate(val_proba, y[val_idx], test_proba, majority[clear])
    model.temperature = calibration.temperature
    card = build_card(
        model,
        dataset=dataset,
        n_fit=n_train,
        n_val=n_val,
        seconds=sum(h.get("seconds", 0.0) for state in states for h in state["history"]),
        test_metrics=test_metrics,
        test_metrics_tta=test_tta,
        timings=inference_timings(model, dataset.x_test[:256]),
        validation_accuracy=val_accuracy,
        calibration=calibration,
        ferplus_test=plus,
    )
    card.epochs_run = max(state["epoch"] for state in states)
    if refit:
        card.protocol = (
            "Trained on the FER2013 train split's faces with the FER+ votes as soft targets (faces whose most votes "
            "went to contempt, unknown or not-a-face left out), all of them, the validation faces included, for the "
            "number of epochs that validation chose when they were held out (seed 42); the calibration is the one "
            "fitted on those held-out faces; evaluated once on the full test split against FER2013's labels and "
            "against the clear FER+ majority. FER+ votes: Barsoum et al. 2016 (Microsoft), MIT licence."
        )
    card.extra["kept_epochs"] = [state["best_epoch"] for state in states]
    card.extra["validation_note"] = (
        "refit on the validation faces too, for the epochs validation chose; temperature kept from the held-out fit"
        if refit
        else "validation_accuracy: the clear FER+ majority of the validation faces, flip TTA"
    )
    path = artifacts.write_artifact(model, card)
    print(
        f"wrote {path}: FER2013 test {card.test_accuracy}, FER+ majority {plus['accuracy']:.4f}, "
        f"validation {'none (refit)' if val_accuracy is None else f'{val_accuracy:.4f}'}, "
        f"ECE {calibration.ece_before:.4f} -> {calibration.ece_after:.4f}"
    )


if __name__ == "__main__":
    main()

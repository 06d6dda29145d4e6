"""Training speed on this machine: the CNN's training step in float32 vs mixed bfloat16 vs XLA.

``python -m benchmarks.training`` times the same network (the `cnn` recipe's single net) on the same
augmented batches with each setting, interleaved so that machine noise hits all alike, and prints
images per second and the ratio to float32. ``make bench`` includes it. Keras runs on TensorFlow
here: the other Keras backends (JAX, PyTorch) are not among this project's dependencies.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from fer_core.data import load_dataset
from fer_core.models import REGISTRY
from fer_core.models.keras_models import KerasModel, training_batches
from fer_core.preprocessing import prepare


@dataclass(frozen=True)
class StepSetting:
    """One way to run the training step."""

    label: str
    precision: str = "float32"
    jit_compile: bool = False
    batch_size: int = 128


SETTINGS: tuple[StepSetting, ...] = (
    StepSetting("float32"),
    StepSetting("mixed bfloat16", precision="mixed_bfloat16"),
    StepSetting("float32 + XLA", jit_compile=True),
    StepSetting("mixed bfloat16 + XLA", precision="mixed_bfloat16", jit_compile=True),
    StepSetting("mixed bfloat16, batch 256", precision="mixed_bfloat16", batch_size=256),
)


def step_rates(
    x_faces: np.ndarray,
    y_labels: np.ndarray,
    settings: tuple[StepSetting, ...] = SETTINGS,
    *,
    images: int = 3072,
    repeats: int = 2,
    model: str = "cnn",
) -> dict[str, list[float]]:
    """Images per second of ``model``'s single network for each setting (``repeats`` timings each)."""
    import keras

    spec = REGISTRY[model]
    rates: dict[str, list[float]] = {s.label: [] for s in settings}
    x = prepare(x_faces[:images], spec.input_kind)
    y = np.eye(7, dtype=np.float32)[y_labels[:images]]
    for _ in range(repeats):
        for setting in settings:  # interleaved: noise on the machine hits every setting alike
            params: dict[str, Any] = {
                **spec.default_params,
                "precision": setting.precision,
                "batch_size": setting.batch_size,
            }
            if "ensemble_epochs" in params:  # one network of the recipe
                params["ensemble_epochs"] = [int(params["epochs"])]
            steps = len(x) // setting.batch_size
            keras.utils.set_random_seed(0)
            network = KerasModel(spec, params).build_network(steps)  # sets the precision policy itself
            if setting.jit_compile:
                network.compile(optimizer=network.optimizer, loss=network.loss, metrics=["accuracy"], jit_compile=True)
            batches = training_batches(x, y, None, params)
            network.fit(batches, epochs=1, steps_per_epoch=2, verbose=0)  # builds and compiles the graph
            start = time.perf_counter()
            network.fit(batches, epochs=1, steps_per_epoch=steps, verbose=0)
            rates[setting.label].append(steps * setting.batch_size / (time.perf_counter() - start))
            keras.backend.clear_session()
    return rates


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None)
    parser.add_argument("--images", type=int, default=3072)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    dataset = load_dataset(args.data)
    rates = step_rates(dataset.x_train, dataset.y_train, images=args.images, repeats=args.repeats)
    base = statistics.median(rates["float32"])
    report = {label: {"images_per_s": round(statistics.median(v), 1), "runs": [round(r, 1) for r in v],
                      "vs_float32": round(statistics.median(v) / base, 2)} for label, v in rates.items()}  # fmt: skip
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

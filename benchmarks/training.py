"""Training speed on this machine: the CNN's training step in float32 vs mixed bfloat16 vs XLA.

``python -m benchmarks.training`` times the same network (the `cnn` recipe's single net) on the same
augmented batches with each setting, interleaved so that machine noise hits all alike, and prints
images per second and the ratio to float32. ``make bench`` includes it. Keras runs on TensorFlow
here: the other Keras backends (JAX, PyTorch) are not among this project's dependencies.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
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


#: (intra-op, inter-op) TensorFlow threads to compare; 0 is TensorFlow's own choice (one per core).
THREADS: tuple[tuple[int, int], ...] = ((0, 0), (1, 1), (2, 1), (2, 2), (4, 2), (0, 0))

_THREADS_CHILD = """
import json, sys
import numpy as np
import tensorflow as tf
intra, inter = int(sys.argv[1]), int(sys.argv[2])
if intra:
    tf.config.threading.set_intra_op_parallelism_threads(intra)
if inter:
    tf.config.threading.set_inter_op_parallelism_threads(inter)
from benchmarks.training import StepSetting, step_rates
rng = np.random.default_rng(0)
x, y = rng.integers(0, 256, (3072, 48, 48), dtype=np.uint8), rng.integers(0, 7, 3072)
rates = step_rates(x, y, (StepSetting("adopted", "mixed_bfloat16"),), images=3072, repeats=1)
print(json.dumps(rates["adopted"][0]))
"""


def thread_rates(settings: tuple[tuple[int, int], ...] = THREADS) -> list[tuple[int, int, float]]:
    """Images/s of the best CNN's training step (mixed bfloat16) per thread setting, one fresh process each
    (TensorFlow fixes its thread pools when it starts)."""
    import subprocess

    out = []
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(Path(__file__).parents[1])}
    for intra, inter in settings:
        done = subprocess.run(
            [sys.executable, "-c", _THREADS_CHILD, str(intra), str(inter)],
            capture_output=True, text=True, env=env, check=True,
        )  # fmt: skip
        out.append((intra, inter, float(done.stdout.strip().splitlines()[-1])))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None)
    parser.add_argument("--images", type=int, default=3072)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", action="store_true", help="compare TensorFlow thread settings instead")
    args = parser.parse_args(argv)
    if args.threads:
        for intra, inter, rate in thread_rates():
            name = lambda n: str(n) if n else "default"  # noqa: E731
            print(f"intra-op {name(intra)}, inter-op {name(inter)}: {rate:.0f} images/s")
        return 0
    dataset = load_dataset(args.data)
    rates = step_rates(dataset.x_train, dataset.y_train, images=args.images, repeats=args.repeats)
    base = statistics.median(rates["float32"])
    report = {label: {"images_per_s": round(statistics.median(v), 1), "runs": [round(r, 1) for r in v],
                      "vs_float32": round(statistics.median(v) / base, 2)} for label, v in rates.items()}  # fmt: skip
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Tests for the command line, run as a user runs it: ``python -m fer_core`` in a subprocess.

Models come from the tiny zoo (``FER_MODELS_DIR``); datasets are generated folders, plus the real
FER2013 copy for the counts check when it is present.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from support.data import (
    DATA_DIR,
    HAS_DATA,
    NO_DATA_REASON,
    REAL_TEST_COUNTS,
    REAL_TRAIN_COUNTS,
    REPO,
    write_image_folder,
)
from support.photos import astronaut, png_declaring

from fer_core.artifacts import read_card
from fer_core.constants import EMOTIONS
from fer_core.presets import get_preset


def run_cli(*args: str, models_dir: Path | None = None, cache_dir: Path | None = None, timeout: int = 300):
    """Run ``python -m fer_core ARGS`` from the repository root; return the CompletedProcess."""
    env = {k: v for k, v in os.environ.items() if k not in ("FER_MODELS_DIR", "FER_DATA_DIR")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    if models_dir is not None:
        env["FER_MODELS_DIR"] = str(models_dir)
    if cache_dir is not None:
        env["FER_CACHE_DIR"] = str(cache_dir)
    return subprocess.run(
        [sys.executable, "-m", "fer_core", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_user_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """Exit code != 0, exactly one non-empty line on stderr, no traceback."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture(scope="module")
def fixture_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated image-folder dataset: 50 train and 4 test images per emotion."""
    root = tmp_path_factory.mktemp("cli_data") / "fer2013"
    write_image_folder(root, {"train": 50, "test": 4}, seed=3)
    return root


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A face photo, a face-free photo, random bytes, a text file and a 900-megapixel PNG header."""
    folder = tmp_path_factory.mktemp("photos")
    paths = {name: folder / name for name in ("astronaut.jpg", "wall.png", "noise.jpg", "notes.png", "bomb.png")}
    Image.fromarray(astronaut()).save(paths["astronaut.jpg"], quality=92)
    Image.new("RGB", (320, 240), (128, 128, 128)).save(paths["wall.png"])
    paths["noise.jpg"].write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    paths["notes.png"].write_text("not a picture")
    paths["bomb.png"].write_bytes(png_declaring(30_000, 30_000))
    return paths


# --------------------------------------------------------------------------------------------
# data-summary
# --------------------------------------------------------------------------------------------


class TestDataSummary:
    def test_json_counts_on_a_generated_folder(self, fixture_data: Path, tmp_path: Path) -> None:
        result = run_cli("data-summary", "--data", str(fixture_data), "--json", cache_dir=tmp_path)
        assert result.returncode == 0, result.stderr
        summary = json.loads(result.stdout)
        assert summary["counts"] == {"train": dict.fromkeys(EMOTIONS, 50), "test": dict.fromkeys(EMOTIONS, 4)}
        assert summary["totals"] == {"train": 350, "test": 28}
        assert sum(summary["pixel_histogram"]["test"]) == 28 * 48 * 48

    def test_table_and_out_file(self, fixture_data: Path, tmp_path: Path) -> None:
        out = tmp_path / "eda.json"
        result = run_cli("data-summary", "--data", str(fixture_data), "--out", str(out), cache_dir=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "happy" in result.stdout and "350" in result.stdout and "28" in result.stdout
        assert json.loads(out.read_text())["totals"]["train"] == 350

    @pytest.mark.skipif(not HAS_DATA, reason=NO_DATA_REASON)
    def test_real_fer2013_counts(self) -> None:
        result = run_cli("data-summary", "--data", str(DATA_DIR), "--json")  # the user's own decode cache
        assert result.returncode == 0, result.stderr
        summary = json.loads(result.stdout)
        assert summary["totals"] == {"train": 28709, "test": 7178}
        assert summary["counts"] == {"train": REAL_TRAIN_COUNTS, "test": REAL_TEST_COUNTS}
        # The genuine copy, not the blurred one: contrast matches (its test faces are sharper, which is flagged).
        assert summary["drift"]["metrics"]["contrast"]["flagged"] is False

    def test_missing_data_dir(self, tmp_path: Path) -> None:
        result = run_cli("data-summary", "--data", str(tmp_path / "nowhere"), cache_dir=tmp_path)
        assert_user_error(result, "does not exist")

    def test_incomplete_data_dir(self, fixture_data: Path, tmp_path: Path) -> None:
        broken = tmp_path / "broken"
        (broken / "train").mkdir(parents=True)
        (broken / "test").mkdir()
        result = run_cli("data-summary", "--data", str(broken), cache_dir=tmp_path)
        assert_user_error(result, "missing the emotion folder")


# --------------------------------------------------------------------------------------------
# predict
# --------------------------------------------------------------------------------------------


class TestPredict:
    @pytest.mark.parametrize("detector", ["haar", "mtcnn"])
    def test_detector_choice(self, zoo: Path, photos: dict[str, Path], detector: str) -> None:
        result = run_cli("predict", str(photos["astronaut.jpg"]), "--detector", detector, "--json", models_dir=zoo)
        assert result.returncode == 0, result.stderr
        (entry,) = json.loads(result.stdout)
        (face,) = entry["faces"]
        x, y, w, h = face["box"]
        assert 150 < x + w / 2 < 290 and 60 < y + h / 2 < 220  # the astronaut's face, whichever detector

    def test_tensorflow_keeps_onednn_and_stderr_stays_clean(self, zoo: Path, photos: dict[str, Path]) -> None:
        # MTCNN and a Keras model both load TensorFlow: its notices must not reach stderr, and oneDNN must
        # stay on (without it bfloat16 is emulated and float32 runs about 1.4x slower).
        code = (
            "import os, sys\n"
            "from fer_core import cli\n"
            "rc = cli.main(sys.argv[1:])\n"
            "print('onednn off' if os.environ.get('TF_ENABLE_ONEDNN_OPTS') == '0' else 'onednn on', file=sys.stderr)\n"
            "sys.exit(rc)\n"
        )
        env = {k: v for k, v in os.environ.items() if k not in ("TF_ENABLE_ONEDNN_OPTS", "TF_CPP_MIN_LOG_LEVEL")}
        env["FER_MODELS_DIR"] = str(zoo)
        args = ["predict", str(photos["astronaut.jpg"]), "--model", "cnn_basic", "--detector", "mtcnn", "--json"]
        result = subprocess.run(
            [sys.executable, "-c", code, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, result.stderr
        assert result.stderr.strip() == "onednn on"
        assert len(json.loads(result.stdout)[0]["faces"]) == 1

    def test_unknown_detector_is_refused_in_one_line(self, zoo: Path, photos: dict[str, Path]) -> None:
        result = run_cli("predict", str(photos["astronaut.jpg"]), "--detector", "yolo", models_dir=zoo)
        assert result.returncode == 2 and "invalid choice: 'yolo'" in result.stderr

    def test_json_shape(self, zoo: Path, photos: dict[str, Path]) -> None:
        images = [str(photos["astronaut.jpg"]), str(photos["wall.png"])]
        result = run_cli("predict", *images, "--model", "logreg", "--json", models_dir=zoo)
        assert result.returncode == 0, result.stderr
        entries = json.loads(result.stdout)
        assert [e["path"] for e in entries] == images
        assert all(set(e) == {"path", "faces", "error"} and e["error"] is None for e in entries)
        (face,) = entries[0]["faces"]
        assert set(face) == {"box", "emotion", "confidence", "probabilities", "not_sure", "why"}
        assert isinstance(face["not_sure"], bool) and face["not_sure"] == bool(face["why"])
        assert len(face["box"]) == 4 and all(isinstance(v, int) for v in face["box"])
        assert list(face["probabilities"]) == list(EMOTIONS)
        assert sum(face["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)
        assert face["emotion"] == max(face["probabilities"], key=face["probabilities"].get)
        assert face["confidence"] == face["probabilities"][face["emotion"]]
        assert entries[1]["faces"] == []

    def test_best_model_and_whole_image(self, zoo: Path, photos: dict[str, Path]) -> None:
        result = run_cli("predict", str(photos["wall.png"]), "--whole-image", "--json", models_dir=zoo)
        assert result.returncode == 0, result.stderr
        (entry,) = json.loads(result.stdout)
        assert len(entry["faces"]) == 1 and entry["faces"][0]["box"] == [0, 0, 320, 240]

    def test_text_output(self, zoo: Path, photos: dict[str, Path]) -> None:
        result = run_cli("predict", str(photos["astronaut.jpg"]), "--model", "logreg", models_dir=zoo)
        assert result.returncode == 0, result.stderr
        assert "face 1 at" in result.stdout and any(e in result.stdout for e in EMOTIONS)

    @pytest.mark.parametrize(
        ("name", "fragment"),
        [("missing.jpg", "does not exist"), ("noise.jpg", "not an image format"), ("notes.png", "not an image")],
    )
    def test_bad_image(self, zoo: Path, photos: dict[str, Path], name: str, fragment: str) -> None:
        path = photos.get(name, photos["astronaut.jpg"].parent / name)
        result = run_cli("predict", str(path), "--model", "logreg", "--json", models_dir=zoo)
        assert_user_error(result, fragment)
        (entry,) = json.loads(result.stdout)  # the JSON still reports every image
        assert entry["faces"] == [] and fragment in entry["error"]

    def test_one_bad_image_among_good_ones(self, zoo: Path, photos: dict[str, Path]) -> None:
        images = [str(photos["astronaut.jpg"]), str(photos["noise.jpg"])]
        result = run_cli("predict", *images, "--model", "logreg", "--json", models_dir=zoo)
        assert_user_error(result, "noise.jpg")
        entries = json.loads(result.stdout)
        assert len(entries[0]["faces"]) == 1 and entries[0]["error"] is None and entries[1]["error"]

    def test_bad_image_with_a_keras_model(self, zoo: Path, photos: dict[str, Path]) -> None:
        # Loading a Keras model imports TensorFlow, whose start-up notices must not add lines to stderr.
        result = run_cli("predict", str(photos["noise.jpg"]), "--model", "cnn_basic", models_dir=zoo)
        assert_user_error(result, "not an image format")

    def test_decompression_bomb(self, zoo: Path, photos: dict[str, Path]) -> None:
        result = run_cli("predict", str(photos["bomb.png"]), "--model", "logreg", "--json", models_dir=zoo)
        assert_user_error(result, "bomb.png")

    def test_unknown_model(self, zoo: Path, photos: dict[str, Path]) -> None:
        result = run_cli("predict", str(photos["astronaut.jpg"]), "--model", "resnet", models_dir=zoo)
        assert_user_error(result, "Unknown model 'resnet'", "logreg")

    def test_untrained_model(self, zoo: Path, photos: dict[str, Path], tmp_path: Path) -> None:
        shutil.copytree(zoo / "logreg", tmp_path / "logreg")  # only logistic regression is installed
        result = run_cli("predict", str(photos["astronaut.jpg"]), "--model", "lstm", models_dir=tmp_path)
        assert_user_error(result, "not trained yet")

    def test_no_model_installed(self, tmp_path: Path, photos: dict[str, Path]) -> None:
        result = run_cli("predict", str(photos["astronaut.jpg"]), models_dir=tmp_path)
        assert_user_error(result, "No trained model")


# --------------------------------------------------------------------------------------------
# evaluate and train
# --------------------------------------------------------------------------------------------


class TestEvaluateAndTrain:
    def test_evaluate_the_zoo(self, zoo: Path, fixture_data: Path, tmp_path: Path) -> None:
        result = run_cli(
            "evaluate",
            "logreg,cnn_basic",
            "--data",
            str(fixture_data),
            "--json",
            models_dir=zoo,
            cache_dir=tmp_path,
        )
        assert result.returncode == 0, result.stderr
        metrics = json.loads(result.stdout)
        assert list(metrics) == ["logreg", "cnn_basic"]
        for name, m in metrics.items():
            assert m["n"] == 28 and 0.0 <= m["accuracy"] <= 1.0 and m["tta"] is False
            matrix = np.array(m["confusion_matrix"])
            assert matrix.shape == (7, 7) and matrix.sum() == 28
            np.testing.assert_array_equal(matrix.sum(axis=1), [4] * 7)
            assert m["card_accuracy"] == json.loads((zoo / name / "card.json").read_text())["test_accuracy"]

    def test_evaluate_unknown_model(self, zoo: Path, fixture_data: Path, tmp_path: Path) -> None:
        result = run_cli("evaluate", "vgg", "--data", str(fixture_data), models_dir=zoo, cache_dir=tmp_path)
        assert_user_error(result, "Unknown model 'vgg'")

    def test_train_writes_a_card(self, fixture_data: Path, tmp_path: Path) -> None:
        # Exactly the smoke command: default parameters, 300 images (240 to fit and 60 to validate while
        # choosing; the final model is refit on all 300, as refit_full_train says).
        out = tmp_path / "runs"
        result = run_cli(
            "train", "logreg", "--data", str(fixture_data), "--limit", "300", "--out", str(out), cache_dir=tmp_path
        )
        assert result.returncode == 0, result.stderr
        assert "logreg: test accuracy" in result.stdout
        card = read_card(out / "logreg")
        assert card.name == "logreg" and card.limit == 300
        assert card.params["refit_full_train"] is True
        assert card.n_train == 300 and card.n_validation == 60
        assert card.test_metrics["n"] == 28
        assert (out / "logreg" / "model.joblib").is_file()

    def test_train_with_params_writes_a_card(self, fixture_data: Path, tmp_path: Path) -> None:
        out = tmp_path / "runs"
        result = run_cli(
            "train", "logreg", "--data", str(fixture_data), "--limit", "300", "--out", str(out),
            "--param", "pca_components=20", "--param", "C=0.5", "--seed", "7", "--epochs", "3", cache_dir=tmp_path,
        )  # fmt: skip
        # --epochs applies to the models that have epochs: logistic regression has none, so it is ignored
        assert result.returncode == 0, result.stderr
        card = read_card(out / "logreg")
        assert card.params["pca_components"] == 20 and card.params["C"] == 0.5 and card.params["seed"] == 7
        assert card.n_train == 300 and card.n_validation == 60

    def test_train_with_a_preset(self, fixture_data: Path, tmp_path: Path) -> None:
        # The lesson preset's settings, under what is given explicitly (--limit and --epochs here).
        out = tmp_path / "runs"
        result = run_cli(
            "train", "cnn_basic", "--data", str(fixture_data), "--preset", "lesson", "--limit", "300",
            "--epochs", "1", "--out", str(out), cache_dir=tmp_path,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        card = read_card(out / "cnn_basic")
        lesson = get_preset("cnn_basic", "lesson").params
        assert card.params["schedule"] == lesson["schedule"] == "cosine"
        assert card.params["batch_size"] == lesson["batch_size"] and card.params["epochs"] == 1
        assert card.limit == 300 and card.n_validation == 30  # the preset's 10 % validation share
        assert "Training" in result.stderr and "Evaluating on the test split" in result.stderr  # phases named

    def test_train_misspelt_param_is_an_error(self, fixture_data: Path, tmp_path: Path) -> None:
        # A typo must not be dropped silently: the run would train with the default instead.
        out = tmp_path / "runs"
        result = run_cli(
            "train", "random_forest", "--data", str(fixture_data), "--limit", "300", "--out", str(out),
            "--param", "n_estimator=5", "--param", "max_depth=4", cache_dir=tmp_path,
        )  # fmt: skip
        assert_user_error(result, "n_estimator")
        assert not (out / "random_forest").exists()

    def test_train_bad_param(self, fixture_data: Path, tmp_path: Path) -> None:
        result = run_cli("train", "logreg", "--data", str(fixture_data), "--param", "oops", cache_dir=tmp_path)
        assert_user_error(result, "KEY=VALUE")


class TestFileSystemErrors:
    def test_unwritable_output_is_one_line(self, fixture_data: Path, tmp_path: Path) -> None:
        target = tmp_path / "no" / "such" / "folder" / "summary.json"
        result = run_cli("data-summary", "--data", str(fixture_data), "--out", str(target), cache_dir=tmp_path)
        assert_user_error(result, "No such file or directory")

"""Tests for fer_core.data: every dataset layout, validation errors, bad files, the cache and the splits.

All datasets here are generated in ``tmp_path``; the integration test on the real FER2013 copy lives
in tests/unit/test_cli.py (``data-summary``) and at the end of this file.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from support.data import (
    DATA_DIR,
    HAS_DATA,
    NO_DATA_REASON,
    REAL_TEST_COUNTS,
    REAL_TRAIN_COUNTS,
    csv_label,
    synthetic_faces,
    write_fer_csv,
    write_image,
    write_image_folder,
    zip_tree,
)

from fer_core import data as data_module
from fer_core.constants import CACHE_DIR_ENV, DATA_DIR_ENV, DEFAULT_DATA_DIR, EMOTIONS, SEED
from fer_core.data import (
    dataset_available,
    install_dataset_zip,
    load_dataset,
    resolve_data_dir,
    subsample,
    validation_split,
)
from fer_core.errors import DatasetError

_USER_CACHE = os.environ.get(CACHE_DIR_ENV)


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own decode cache, so nothing leaks between tests or into ~/.cache."""
    cache = tmp_path / "cache"
    monkeypatch.setenv(CACHE_DIR_ENV, str(cache))
    return cache


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A valid image-folder dataset: 3 train and 2 test images per emotion."""
    root = tmp_path / "fer2013"
    write_image_folder(root, {"train": 3, "test": 2})
    return root


def expected_labels(per_class: int) -> np.ndarray:
    return np.repeat(np.arange(len(EMOTIONS)), per_class)


# --------------------------------------------------------------------------------------------
# Image-folder layout
# --------------------------------------------------------------------------------------------


class TestImageFolder:
    def test_loads_arrays_in_class_order(self, folder: Path) -> None:
        dataset = load_dataset(folder)
        assert dataset.x_train.shape == (21, 48, 48) and dataset.x_train.dtype == np.uint8
        assert dataset.x_test.shape == (14, 48, 48) and dataset.x_test.dtype == np.uint8
        np.testing.assert_array_equal(dataset.y_train, expected_labels(3))
        np.testing.assert_array_equal(dataset.y_test, expected_labels(2))
        assert dataset.counts() == {"train": dict.fromkeys(EMOTIONS, 3), "test": dict.fromkeys(EMOTIONS, 2)}
        assert dataset.report.n_skipped == 0 and dataset.report.n_converted == 0
        assert not dataset.report.from_cache

    def test_png_pixels_are_exact(self, folder: Path) -> None:
        dataset = load_dataset(folder)
        original = cv2.imread(str(folder / "train" / "fear" / "fear_0.png"), cv2.IMREAD_GRAYSCALE)
        fear_first = dataset.x_train[dataset.y_train == EMOTIONS.index("fear")][0]
        np.testing.assert_array_equal(fear_first, original)

    def test_corrupt_and_empty_files_are_skipped_and_counted(self, folder: Path) -> None:
        (folder / "train" / "happy" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
        (folder / "train" / "sad" / "empty.png").write_bytes(b"")
        (folder / "test" / "angry" / "notes.txt").write_text("not an image at all")
        dataset = load_dataset(folder)
        assert dataset.report.n_skipped == 3
        assert sorted(Path(name).name for name in dataset.report.skipped) == ["broken.jpg", "empty.png", "notes.txt"]
        assert len(dataset.y_train) == 21 and len(dataset.y_test) == 14  # the good images are all there

    def test_an_unreadable_file_is_skipped_and_counted(self, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        locked = folder / "train" / "happy" / "happy_1.jpg"
        locked.chmod(0)  # enough for an ordinary user; root reads anyway, so the read is also refused below
        real_load = data_module._load_face_file

        def load_face_file(path: str) -> tuple:
            if Path(path) == locked:
                raise PermissionError(13, "Permission denied", path)
            return real_load(path)

        monkeypatch.setattr(data_module, "_load_face_file", load_face_file)
        try:
            dataset = load_dataset(folder, use_cache=False)
        finally:
            locked.chmod(0o644)
        assert [Path(name).name for name in dataset.report.skipped] == ["happy_1.jpg"]
        assert len(dataset.y_train) == 20 and len(dataset.y_test) == 14  # every other image still loads

    def test_skipped_files_are_logged_with_examples(self, folder: Path, caplog: pytest.LogCaptureFixture) -> None:
        (folder / "train" / "happy" / "broken.jpg").write_bytes(b"garbage")
        with caplog.at_level("WARNING", logger="fer_core.data"):
            load_dataset(folder)
        assert "Skipped 1 unreadable file" in caplog.text and "broken.jpg" in caplog.text

    def test_colour_and_odd_sized_images_are_converted_and_counted(self, folder: Path) -> None:
        colour = np.zeros((48, 48, 3), np.uint8)
        colour[..., 2] = 200  # pure red in OpenCV's BGR order
        write_image(folder / "train" / "angry" / "colour.png", colour)
        rgba = np.full((48, 48, 4), 90, np.uint8)
        write_image(folder / "train" / "angry" / "rgba.png", rgba)
        write_image(folder / "test" / "surprise" / "big.png", np.full((96, 64), 30, np.uint8))
        write_image(folder / "test" / "surprise" / "deep.png", np.full((48, 48), 65535, np.uint16))
        dataset = load_dataset(folder)
        assert dataset.report.n_converted == 4 and dataset.report.n_skipped == 0
        angry = dataset.x_train[dataset.y_train == 0]
        assert len(angry) == 5
        grey_values = {int(np.unique(face)[0]) for face in angry if len(np.unique(face)) == 1}
        assert {60, 90} <= grey_values  # red (0.299 * 200 = 60) and the RGBA grey, both as one channel
        surprise = dataset.x_test[dataset.y_test == EMOTIONS.index("surprise")]
        constant = sorted(int(face[0, 0]) for face in surprise if len(np.unique(face)) == 1)
        assert constant == [30, 255]  # resized to 48x48, and 16-bit white scaled to 8-bit white

    def test_float_tiff_is_converted_or_skipped_never_a_crash(self, folder: Path) -> None:
        # .tif is an accepted suffix, and TIFF may hold 32-bit float pixels (0-1); OpenCV decodes them as float32.
        write_image(folder / "train" / "fear" / "float.tif", np.full((48, 48), 0.5, np.float32))
        dataset = load_dataset(folder)
        assert dataset.report.n_converted + dataset.report.n_skipped == 1
        assert len(dataset.y_train) + dataset.report.n_skipped == 22

    def test_hidden_files_and_folders_are_ignored(self, folder: Path) -> None:
        (folder / "train" / "happy" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
        (folder / "train" / ".ipynb_checkpoints").mkdir()
        dataset = load_dataset(folder)
        assert dataset.report.n_skipped == 0 and len(dataset.y_train) == 21

    def test_missing_root(self, tmp_path: Path) -> None:
        with pytest.raises(DatasetError, match=r"does not exist.*FER_DATA_DIR"):
            load_dataset(tmp_path / "nowhere")

    def test_missing_split(self, folder: Path) -> None:
        shutil.rmtree(folder / "test")
        with pytest.raises(DatasetError, match=r"has no 'test/' folder"):
            load_dataset(folder)

    def test_missing_class_folder(self, folder: Path) -> None:
        shutil.rmtree(folder / "train" / "disgust")
        with pytest.raises(DatasetError, match=r"'train/' is missing the emotion folder\(s\): disgust\."):
            load_dataset(folder)

    def test_extra_class_folder(self, folder: Path) -> None:
        write_image(folder / "test" / "contempt" / "a.png", synthetic_faces(1)[0])
        with pytest.raises(DatasetError, match=r"'test/' has unexpected folder\(s\): contempt\. Expected exactly"):
            load_dataset(folder)

    def test_empty_class(self, folder: Path) -> None:
        for path in (folder / "test" / "neutral").iterdir():
            path.unlink()
        with pytest.raises(DatasetError, match=r"The class folder 'test/neutral/' is empty\."):
            load_dataset(folder)

    def test_a_file_that_is_not_a_dataset(self, tmp_path: Path) -> None:
        stray = tmp_path / "photo.png"
        stray.write_bytes(b"x")
        with pytest.raises(DatasetError, match=r"not a \.zip or \.csv"):
            load_dataset(stray)

    def test_no_readable_image_in_a_split(self, folder: Path) -> None:
        for path in (folder / "test").rglob("*.*"):
            path.write_bytes(b"broken")
        with pytest.raises(DatasetError, match=r"No readable images were found in the test split"):
            load_dataset(folder)


# --------------------------------------------------------------------------------------------
# The Kaggle CSV
# --------------------------------------------------------------------------------------------


def kaggle_rows() -> list[tuple[object, object, object]]:
    """One Training row per CSV label (pixel value = 10 * CSV label), test rows and four bad rows."""
    rows: list[tuple[object, object, object]] = []
    for label in range(7):
        rows.append((label, np.full(2304, 10 * label, np.uint8), "Training"))
    rows.append((csv_label("happy"), np.full(2304, 200, np.uint8), "PublicTest"))
    rows.append((csv_label("neutral"), np.full(2304, 210, np.uint8), "PrivateTest"))
    rows.append((3, "1 2 3", "Training"))  # too few pixels
    rows.append((9, np.full(2304, 5, np.uint8), "Training"))  # unknown label
    rows.append((0, np.full(2304, 5, np.uint8), "Validation"))  # unknown usage
    rows.append((0, " ".join(["x"] * 2304), "Training"))  # not numbers
    return rows


class TestCsv:
    def test_labels_are_mapped_to_alphabetical_order(self, tmp_path: Path) -> None:
        dataset = load_dataset(write_fer_csv(tmp_path / "fer2013.csv", kaggle_rows()))
        assert len(dataset.y_train) == 7 and len(dataset.y_test) == 2
        for face, label in zip(dataset.x_train, dataset.y_train):
            csv_number = int(face[0, 0]) // 10
            assert EMOTIONS[label] == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")[csv_number]
        # Kaggle 4 is sad and 6 is neutral; ours are alphabetical (neutral = 4, sad = 5).
        assert dataset.y_train[dataset.x_train[:, 0, 0] == 40].tolist() == [EMOTIONS.index("sad")]
        assert dataset.y_train[dataset.x_train[:, 0, 0] == 60].tolist() == [EMOTIONS.index("neutral")]

    def test_public_and_private_test_rows_form_the_test_split(self, tmp_path: Path) -> None:
        dataset = load_dataset(write_fer_csv(tmp_path / "fer2013.csv", kaggle_rows()))
        assert sorted(dataset.x_test[:, 0, 0].tolist()) == [200, 210]
        assert sorted(EMOTIONS[i] for i in dataset.y_test) == ["happy", "neutral"]

    def test_bad_rows_are_skipped_and_counted(self, tmp_path: Path) -> None:
        dataset = load_dataset(write_fer_csv(tmp_path / "fer2013.csv", kaggle_rows()))
        assert dataset.report.n_skipped == 4
        assert all(entry.startswith("row ") for entry in dataset.report.skipped)

    def test_csv_inside_a_folder_is_found(self, tmp_path: Path) -> None:
        (tmp_path / "kaggle").mkdir()
        write_fer_csv(tmp_path / "kaggle" / "fer2013.csv", kaggle_rows())
        dataset = load_dataset(tmp_path / "kaggle")
        assert len(dataset.y_train) == 7

    def test_missing_column(self, tmp_path: Path) -> None:
        path = tmp_path / "bad.csv"
        path.write_text("emotion,pixels\n0,1 2 3\n")
        with pytest.raises(DatasetError, match=r"missing the column\(s\) Usage"):
            load_dataset(path)


# --------------------------------------------------------------------------------------------
# Zip archives
# --------------------------------------------------------------------------------------------


class TestZip:
    @pytest.mark.parametrize("prefix", ["", "fer2013"])
    def test_zip_of_the_image_folder(self, folder: Path, tmp_path: Path, prefix: str) -> None:
        archive = zip_tree(folder, tmp_path / "fer.zip", prefix)
        from_zip, from_folder = load_dataset(archive), load_dataset(folder)
        np.testing.assert_array_equal(from_zip.x_train, from_folder.x_train)
        np.testing.assert_array_equal(from_zip.y_test, from_folder.y_test)
        np.testing.assert_array_equal(from_zip.x_test, from_folder.x_test)

    def test_zip_of_the_csv(self, tmp_path: Path) -> None:
        csv_path = write_fer_csv(tmp_path / "fer2013.csv", kaggle_rows())
        archive = tmp_path / "kaggle.zip"
        with zipfile.ZipFile(archive, "w") as handle:
            handle.write(csv_path, "challenge/fer2013.csv")
        dataset = load_dataset(archive)
        assert len(dataset.y_train) == 7 and len(dataset.y_test) == 2 and dataset.report.n_skipped == 4

    def test_corrupt_member_is_skipped(self, folder: Path, tmp_path: Path) -> None:
        (folder / "train" / "fear" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
        dataset = load_dataset(zip_tree(folder, tmp_path / "fer.zip"))
        assert dataset.report.n_skipped == 1 and len(dataset.y_train) == 21

    def test_zip_missing_a_class(self, folder: Path, tmp_path: Path) -> None:
        shutil.rmtree(folder / "test" / "happy")
        with pytest.raises(DatasetError, match=r"'test/' in the zip is missing the emotion folder\(s\): happy"):
            load_dataset(zip_tree(folder, tmp_path / "fer.zip"))

    def test_not_a_zip(self, tmp_path: Path) -> None:
        fake = tmp_path / "fake.zip"
        fake.write_bytes(b"PK but not really")
        with pytest.raises(DatasetError, match=r"not a readable zip file"):
            load_dataset(fake)

    def test_zip_without_a_dataset(self, tmp_path: Path) -> None:
        archive = tmp_path / "other.zip"
        with zipfile.ZipFile(archive, "w") as handle:
            handle.writestr("readme.txt", "hello")
        with pytest.raises(DatasetError, match=r"neither a train/ and test/ image folder nor a FER2013 CSV"):
            load_dataset(archive)


class TestInstallDatasetZip:
    def test_installs_a_good_zip(self, folder: Path, tmp_path: Path) -> None:
        archive = zip_tree(folder, tmp_path / "fer.zip", "nested")
        dest = tmp_path / "installed" / "fer2013"
        assert install_dataset_zip(archive, dest) == dest
        assert load_dataset(dest).counts() == load_dataset(folder).counts()
        assert [p.name for p in dest.parent.iterdir()] == ["fer2013"]  # no staging folder left

    def test_path_traversal_is_refused_and_nothing_is_written(self, folder: Path, tmp_path: Path) -> None:
        archive = zip_tree(folder, tmp_path / "evil.zip")
        with zipfile.ZipFile(archive, "a") as handle:
            handle.writestr("../evil", "owned")
            handle.writestr("train/angry/../../../evil2", "owned")
        dest = tmp_path / "target" / "inner" / "fer2013"
        before = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
        with pytest.raises(DatasetError, match=r"unsafe path \('\.\./evil'\)"):
            install_dataset_zip(archive, dest)
        after = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
        assert after == before
        assert not (tmp_path / "evil").exists() and not (tmp_path / "target" / "evil").exists()

    def test_absolute_path_is_refused(self, folder: Path, tmp_path: Path) -> None:
        archive = zip_tree(folder, tmp_path / "abs.zip")
        with zipfile.ZipFile(archive, "a") as handle:
            handle.writestr("/tmp/evil", "owned")
        with pytest.raises(DatasetError, match="unsafe path"):
            load_dataset(archive)

    def test_a_bad_zip_keeps_the_existing_dataset(self, folder: Path, tmp_path: Path) -> None:
        dest = tmp_path / "data" / "fer2013"
        install_dataset_zip(zip_tree(folder, tmp_path / "good.zip"), dest)
        before = {p.relative_to(dest): p.read_bytes() for p in dest.rglob("*") if p.is_file()}
        shutil.rmtree(folder / "train" / "angry")
        with pytest.raises(DatasetError, match="missing the emotion folder"):
            install_dataset_zip(zip_tree(folder, tmp_path / "bad.zip"), dest)
        assert {p.relative_to(dest): p.read_bytes() for p in dest.rglob("*") if p.is_file()} == before


# --------------------------------------------------------------------------------------------
# Cache
# --------------------------------------------------------------------------------------------


class TestCache:
    def test_second_load_comes_from_the_cache(self, folder: Path, private_cache: Path) -> None:
        first = load_dataset(folder)
        assert not first.report.from_cache
        assert len(list(private_cache.glob("*.npz"))) == 1
        second = load_dataset(folder)
        assert second.report.from_cache
        assert second.fingerprint == first.fingerprint
        np.testing.assert_array_equal(second.x_train, first.x_train)
        np.testing.assert_array_equal(second.y_test, first.y_test)

    def test_cache_keeps_the_load_report(self, folder: Path) -> None:
        (folder / "train" / "happy" / "broken.jpg").write_bytes(b"garbage")
        write_image(folder / "train" / "happy" / "colour.png", np.full((48, 48, 3), 10, np.uint8))
        load_dataset(folder)
        cached = load_dataset(folder)
        assert cached.report.from_cache
        assert cached.report.n_skipped == 1 and cached.report.n_converted == 1

    def test_a_changed_folder_is_read_again(self, folder: Path) -> None:
        first = load_dataset(folder)
        write_image(folder / "train" / "happy" / "new.png", np.full((48, 48), 77, np.uint8))
        changed = load_dataset(folder)
        assert not changed.report.from_cache
        assert changed.fingerprint != first.fingerprint
        assert changed.counts()["train"]["happy"] == 4
        assert any((face == 77).all() for face in changed.x_train)

    def test_a_rewritten_file_is_read_again(self, folder: Path) -> None:
        load_dataset(folder)
        target = folder / "test" / "sad" / "sad_0.png"
        write_image(target, np.full((48, 48), 5, np.uint8))
        reloaded = load_dataset(folder)
        assert not reloaded.report.from_cache
        assert any((face == 5).all() for face in reloaded.x_test)

    def test_use_cache_false_writes_and_reads_nothing(self, folder: Path, private_cache: Path) -> None:
        load_dataset(folder, use_cache=False)
        assert not private_cache.exists() or not list(private_cache.iterdir())

    def test_a_corrupt_cache_file_is_ignored(self, folder: Path, private_cache: Path) -> None:
        load_dataset(folder)
        (cache_file,) = private_cache.glob("*.npz")
        cache_file.write_bytes(b"not an npz")
        again = load_dataset(folder)
        assert not again.report.from_cache and len(again.y_train) == 21

    def test_progress_reports_every_image(self, folder: Path) -> None:
        calls: list[tuple[int, int]] = []
        load_dataset(folder, use_cache=False, progress=lambda done, total: calls.append((done, total)))
        assert calls and calls[-1] == (35, 35)


# --------------------------------------------------------------------------------------------
# Data root, splits and subsets
# --------------------------------------------------------------------------------------------


class TestResolveDataDir:
    def test_argument_wins(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "from_env"))
        assert resolve_data_dir(tmp_path / "from_arg") == tmp_path / "from_arg"

    def test_environment_is_next(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "from_env"))
        assert resolve_data_dir() == tmp_path / "from_env"
        assert resolve_data_dir("") == tmp_path / "from_env"

    def test_default_is_data_fer2013(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv(DATA_DIR_ENV, raising=False)
        assert resolve_data_dir() == DEFAULT_DATA_DIR
        assert DEFAULT_DATA_DIR.parts[-2:] == ("data", "fer2013")

    def test_load_uses_the_environment(self, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv(DATA_DIR_ENV, str(folder))
        assert dataset_available()
        assert len(load_dataset().y_train) == 21

    def test_dataset_available(self, folder: Path, tmp_path: Path) -> None:
        assert dataset_available(folder)
        assert not dataset_available(tmp_path / "nowhere")


class TestValidationSplit:
    @pytest.fixture
    def labelled(self) -> tuple[np.ndarray, np.ndarray]:
        counts = [100, 10, 50, 200, 80, 60, 40]  # imbalanced, like FER2013
        y = np.concatenate([np.full(n, label) for label, n in enumerate(counts)]).astype(np.int64)
        x = np.arange(len(y), dtype=np.int64)  # each "image" is its own index
        return x, y

    def test_twenty_percent_stratified(self, labelled: tuple[np.ndarray, np.ndarray]) -> None:
        x, y = labelled
        x_fit, y_fit, x_val, y_val = validation_split(x, y)
        assert len(y_val) == int(np.ceil(0.2 * len(y))) and len(y_fit) + len(y_val) == len(y)
        expected = 0.2 * np.bincount(y)
        assert np.all(np.abs(np.bincount(y_val, minlength=7) - expected) <= 1)
        assert set(x_fit.tolist()).isdisjoint(x_val.tolist())
        assert sorted(np.concatenate([x_fit, x_val]).tolist()) == x.tolist()
        np.testing.assert_array_equal(y[x_val], y_val)  # images keep their labels

    def test_seed_42_is_the_default_and_deterministic(self, labelled: tuple[np.ndarray, np.ndarray]) -> None:
        x, y = labelled
        first, again, explicit = validation_split(x, y), validation_split(x, y), validation_split(x, y, seed=SEED)
        for a, b, c in zip(first, again, explicit):
            np.testing.assert_array_equal(a, b)
            np.testing.assert_array_equal(a, c)
        other = validation_split(x, y, seed=7)
        assert not np.array_equal(np.sort(first[2]), np.sort(other[2]))

    @pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
    def test_bad_fraction(self, labelled: tuple[np.ndarray, np.ndarray], fraction: float) -> None:
        with pytest.raises(ValueError, match="fraction must be between 0 and 1"):
            validation_split(*labelled, fraction=fraction)


class TestSubsample:
    def test_none_or_large_limit_keeps_everything(self) -> None:
        x, y = np.arange(70), np.arange(70) % 7
        for limit in (None, 70, 1000):
            x_out, y_out = subsample(x, y, limit)
            np.testing.assert_array_equal(x_out, x)
            np.testing.assert_array_equal(y_out, y)

    def test_stratified_ordered_and_deterministic(self) -> None:
        y = np.concatenate([np.full(n, label) for label, n in enumerate([300, 30, 150, 600, 240, 180, 120])])
        x = np.arange(len(y))
        x_out, y_out = subsample(x, y, 162)
        assert len(y_out) == 162
        assert np.all(np.abs(np.bincount(y_out, minlength=7) - 162 * np.bincount(y) / len(y)) <= 1)
        assert np.all(np.diff(x_out) > 0)  # original order kept
        np.testing.assert_array_equal(y[x_out], y_out)
        np.testing.assert_array_equal(subsample(x, y, 162)[0], x_out)
        assert not np.array_equal(subsample(x, y, 162, seed=1)[0], x_out)

    def test_too_small_a_limit(self) -> None:
        with pytest.raises(ValueError, match="at least 7 images"):
            subsample(np.arange(70), np.arange(70) % 7, 5)


# --------------------------------------------------------------------------------------------
# Decoding helper and the real dataset
# --------------------------------------------------------------------------------------------


def test_decode_face_refuses_garbage_and_converts_colour() -> None:
    assert data_module.decode_face(b"") == (None, False)
    assert data_module.decode_face(b"garbage bytes") == (None, False)
    ok, buffer = cv2.imencode(".png", np.zeros((10, 20, 3), np.uint8))
    face, converted = data_module.decode_face(buffer.tobytes())
    assert face is not None and face.shape == (48, 48) and converted


@pytest.mark.skipif(not HAS_DATA, reason=NO_DATA_REASON)
def test_real_fer2013_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    # The shared decode cache (not the private one) keeps this a one-second read after the first run.
    if _USER_CACHE is None:
        monkeypatch.delenv(CACHE_DIR_ENV)
    else:
        monkeypatch.setenv(CACHE_DIR_ENV, _USER_CACHE)
    dataset = load_dataset(DATA_DIR)
    assert len(dataset.y_train) == 28709 and len(dataset.y_test) == 7178
    assert dataset.counts() == {"train": REAL_TRAIN_COUNTS, "test": REAL_TEST_COUNTS}
    assert dataset.x_train.dtype == np.uint8 and dataset.x_train.shape[1:] == (48, 48)
    assert dataset.report.n_skipped == 0

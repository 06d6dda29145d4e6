"""Load FER2013 from an image folder, the Kaggle CSV or a zip of either, with a fast decode cache.

Arrays are uint8 ``(n, 48, 48)`` with integer labels in ``EMOTIONS`` order; float conversion
belongs to preprocessing. Decoding runs on a thread pool (OpenCV releases the GIL) and the decoded
arrays are cached under a fingerprint of the file list, sizes and modification times, so a second
load of an unchanged folder is a single file read.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TypeVar

import cv2
import numpy as np
from PIL import Image

from fer_core.constants import (
    CACHE_DIR_ENV,
    CSV_LABEL_ORDER,
    CSV_USAGE_TO_SPLIT,
    DATA_DIR_ENV,
    DEFAULT_DATA_DIR,
    EMOTIONS,
    IMAGE_SIZE,
    N_PIXELS,
    SEED,
    VALIDATION_FRACTION,
)
from fer_core.errors import DatasetError

logger = logging.getLogger(__name__)

SPLITS = ("train", "test")
T = TypeVar("T")
CACHE_VERSION = "1"
#: Called with (done, total) while images are decoded.
ProgressFn = Callable[[int, int], None]


@dataclass
class LoadReport:
    """What happened while loading: skipped and converted files."""

    skipped: list[str] = field(default_factory=list)
    n_converted: int = 0
    from_cache: bool = False

    @property
    def n_skipped(self) -> int:
        return len(self.skipped)


@dataclass
class FerDataset:
    """FER2013 as arrays: ``x_*`` uint8 ``(n, 48, 48)``, ``y_*`` int64 ``(n,)``."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    fingerprint: str
    report: LoadReport = field(default_factory=LoadReport)

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(x, y)`` for ``"train"`` or ``"test"``."""
        if name == "train":
            return self.x_train, self.y_train
        if name == "test":
            return self.x_test, self.y_test
        raise ValueError(f"Unknown split {name!r}; use 'train' or 'test'.")

    def counts(self) -> dict[str, dict[str, int]]:
        """Images per split and emotion."""
        return {
            split: {e: int(n) for e, n in zip(EMOTIONS, np.bincount(self.split(split)[1], minlength=len(EMOTIONS)))}
            for split in SPLITS
        }


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The data root: the argument, else ``$FER_DATA_DIR``, else ``data/fer2013``."""
    if data_dir is not None and str(data_dir) != "":
        return Path(data_dir).expanduser()
    env = os.environ.get(DATA_DIR_ENV, "")
    return Path(env).expanduser() if env else DEFAULT_DATA_DIR


def cache_dir() -> Path:
    """Folder for decoded-array caches (``$FER_CACHE_DIR`` or ``~/.cache/fer-studio``)."""
    env = os.environ.get(CACHE_DIR_ENV, "")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "fer-studio"


def dataset_available(data_dir: str | os.PathLike[str] | None = None) -> bool:
    """True when a dataset seems to be present at the data root (cheap check, no decoding)."""
    root = resolve_data_dir(data_dir)
    if root.is_file():
        return root.suffix.lower() in {".zip", ".csv"}
    return (root / "train").is_dir() and (root / "test").is_dir() or bool(_find_csv(root))


# --------------------------------------------------------------------------------------------
# Decoding single images
# --------------------------------------------------------------------------------------------


def decode_face(data: bytes) -> tuple[np.ndarray | None, bool]:
    """Decode image bytes to a uint8 (48, 48) grey face; return (array or None, converted?)."""
    if not data:
        return None, False
    buffer = np.frombuffer(data, dtype=np.uint8)
    image = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    if image is None:
        # OpenCV cannot read GIFs and a few other formats; Pillow can.
        try:
            with Image.open(io.BytesIO(data)) as pil:
                pil.seek(0)
                image = np.asarray(pil.convert("L"))
        except Exception:  # noqa: BLE001 - any decoder failure means "skip this file"
            return None, False
    return _normalise_face(image)


def _load_face_file(path: str) -> tuple[np.ndarray | None, bool]:
    """:func:`decode_face` for a file, in one OpenCV call where it can (far less time holding the GIL)."""
    image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if image is None:  # a GIF, an unreadable file, ...: the careful path says which
        return decode_face(_read_file(path))
    return _normalise_face(image)


def _read_file(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def _normalise_face(image: np.ndarray) -> tuple[np.ndarray, bool]:
    """Any decoded image to a uint8 (48, 48) grey face; return (face, converted?)."""
    converted = False
    if image.dtype != np.uint8:
        if np.issubdtype(image.dtype, np.floating):  # float images are taken as 0-1
            finite = np.nan_to_num(image.astype(np.float64), nan=0.0, posinf=1.0, neginf=0.0)
            image = (np.clip(finite, 0.0, 1.0) * 255.0).astype(np.uint8)
        else:
            top = max(float(np.iinfo(image.dtype).max), 1.0)
            image = (np.clip(image.astype(np.float64), 0, top) * 255.0 / top).astype(np.uint8)
        converted = True
    if image.ndim == 3:
        channels = image.shape[2]
        if channels == 1:
            image = image[:, :, 0]
        else:
            code = cv2.COLOR_BGRA2GRAY if channels == 4 else cv2.COLOR_BGR2GRAY
            image = cv2.cvtColor(image, code)
            converted = True
    if image.shape != (IMAGE_SIZE, IMAGE_SIZE):
        image = cv2.resize(image, (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_AREA)
        converted = True
    return np.ascontiguousarray(image, dtype=np.uint8), converted


def _decode_many(
    sources: Sequence[T],
    load: Callable[[T], tuple[np.ndarray | None, bool]],
    names: Sequence[str],
    progress: ProgressFn | None,
    report: LoadReport,
) -> tuple[np.ndarray, np.ndarray]:
    """Decode many images (``load(source)`` each) in parallel; return (stack, kept mask)."""
    total = len(sources)
    out = np.zeros((total, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    kept = np.zeros(total, dtype=bool)
    converted = np.zeros(total, dtype=bool)

    def work(start: int, stop: int) -> None:
        # One task per chunk: per-image executor overhead would cost more than decoding a 48x48 JPEG.
        for index in range(start, stop):
            try:
                image, was_converted = load(sources[index])
            except Exception:  # noqa: BLE001 - an odd file is skipped and counted, never fatal
                continue
            if image is not None:
                out[index] = image
                kept[index] = True
                converted[index] = was_converted

    chunk = 1024
    # Reading and decoding release the GIL, but the Python glue between them does not: more threads
    # than cores only fight over it (measured: 4 threads on 2 cores were 2x slower than 2).
    workers = max(1, min(16, os.cpu_count() or 1))
    starts = range(0, total, chunk)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(work, start, min(start + chunk, total)) for start in starts]
        for done, future in enumerate(futures, start=1):
            future.result()
            if progress is not None:
                progress(min(done * chunk, total), total)
    report.skipped.extend(name for name, ok in zip(names, kept) if not ok)
    report.n_converted += int(converted.sum())
    return out, kept


# --------------------------------------------------------------------------------------------
# Image-folder layout
# --------------------------------------------------------------------------------------------


#: One image file of the folder layout: (path relative to the root, label, size in bytes, mtime in ns).
_FolderFile = tuple[str, int, int, int]


def _scan_class_folder(folder: str, prefix: str, label: int) -> list[_FolderFile]:
    """Every visible file in one class folder, sorted by name, with its size and mtime (one stat each)."""
    files = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_file():
                continue
            try:
                stat = entry.stat()
                files.append((prefix + entry.name, label, stat.st_size, stat.st_mtime_ns))
            except OSError:
                files.append((prefix + entry.name, label, -1, -1))
    files.sort()
    return files


def _list_image_folder(root: Path) -> dict[str, list[_FolderFile]]:
    """Validate the folder layout and list (relative path, label, size, mtime) per split."""
    if not root.exists():
        raise DatasetError(
            f"The data folder {root} does not exist. Download FER2013 and set {DATA_DIR_ENV} to its folder."
        )
    if not root.is_dir():
        raise DatasetError(
            f"{root} is a file, not a folder. Point {DATA_DIR_ENV} at the folder that holds train/ and test/."
        )
    listing: dict[str, list[_FolderFile]] = {}
    for split in SPLITS:
        split_dir = root / split
        if not split_dir.is_dir():
            raise DatasetError(
                f"The data folder {root} has no '{split}/' folder. FER2013 needs train/ and test/, "
                "each with one sub-folder per emotion."
            )
        found = {p.name for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith(".")}
        missing = [e for e in EMOTIONS if e not in found]
        extra = sorted(found - set(EMOTIONS))
        if missing:
            raise DatasetError(f"'{split}/' is missing the emotion folder(s): {', '.join(missing)}.")
        if extra:
            raise DatasetError(
                f"'{split}/' has unexpected folder(s): {', '.join(extra)}. Expected exactly: {', '.join(EMOTIONS)}."
            )
        files: list[_FolderFile] = []
        for label, emotion in enumerate(EMOTIONS):
            class_files = _scan_class_folder(str(split_dir / emotion), f"{split}/{emotion}/", label)
            if not class_files:
                raise DatasetError(f"The class folder '{split}/{emotion}/' is empty.")
            files.extend(class_files)
        listing[split] = files
    return listing


def _fingerprint(items: Iterable[str]) -> str:
    digest = hashlib.sha1(CACHE_VERSION.encode())
    for item in items:
        digest.update(item.encode("utf-8", "surrogateescape"))
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def _folder_fingerprint(listing: dict[str, list[_FolderFile]]) -> str:
    """Changes whenever a file is added, removed, renamed, relabelled or rewritten."""
    return _fingerprint(
        f"{name}|{label}|{size}|{mtime}" if size >= 0 else f"{name}|{label}|unreadable"
        for split in SPLITS
        for name, label, size, mtime in listing[split]
    )


def _cache_path(fingerprint: str) -> Path:
    return cache_dir() / f"fer2013-{fingerprint}.npz"


def _read_cache(fingerprint: str, source: str) -> FerDataset | None:
    path = _cache_path(fingerprint)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            skipped = [str(s) for s in npz["skipped"]]
            return FerDataset(
                x_train=npz["x_train"],
                y_train=npz["y_train"],
                x_test=npz["x_test"],
                y_test=npz["y_test"],
                source=source,
                fingerprint=fingerprint,
                report=LoadReport(skipped=skipped, n_converted=int(npz["n_converted"]), from_cache=True),
            )
    except (OSError, KeyError, ValueError) as exc:
        logger.warning("Ignoring unreadable dataset cache %s: %s", path, exc)
        return None


def _write_cache(dataset: FerDataset) -> None:
    path = _cache_path(dataset.fingerprint)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npz", delete=False) as tmp:
            np.savez(
                tmp,
                x_train=dataset.x_train,
                y_train=dataset.y_train,
                x_test=dataset.x_test,
                y_test=dataset.y_test,
                skipped=np.array(dataset.report.skipped, dtype=str),
                n_converted=np.array(dataset.report.n_converted),
            )
        os.replace(tmp.name, path)
    except OSError as exc:  # A read-only home must not break loading.
        logger.warning("Could not write the dataset cache %s: %s", path, exc)


def _warn_skipped(report: LoadReport) -> None:
    if report.n_skipped:
        examples = ", ".join(report.skipped[:5])
        logger.warning("Skipped %d unreadable file(s), e.g. %s", report.n_skipped, examples)


def _load_image_folder(root: Path, use_cache: bool, progress: ProgressFn | None) -> FerDataset:
    listing = _list_image_folder(root)
    fingerprint = _folder_fingerprint(listing)
    if use_cache and (cached := _read_cache(fingerprint, str(root))) is not None:
        _warn_skipped(cached.report)
        return cached
    report = LoadReport()
    files = listing["train"] + listing["test"]
    names = [name for name, _, _, _ in files]
    prefix = f"{root}{os.sep}"
    paths = [prefix + name for name in names]  # plain strings: 36k Path objects cost most of a second
    images, kept = _decode_many(paths, _load_face_file, names, progress, report)
    labels = np.array([label for _, label, _, _ in files], dtype=np.int64)
    n_train = len(listing["train"])
    dataset = _assemble(images, labels, kept, n_train, str(root), fingerprint, report)
    if use_cache:
        _write_cache(dataset)
    return dataset


def _assemble(
    images: np.ndarray,
    labels: np.ndarray,
    kept: np.ndarray,
    n_train: int,
    source: str,
    fingerprint: str,
    report: LoadReport,
) -> FerDataset:
    is_train = np.arange(len(labels)) < n_train
    dataset = FerDataset(
        x_train=images[is_train & kept],
        y_train=labels[is_train & kept],
        x_test=images[~is_train & kept],
        y_test=labels[~is_train & kept],
        source=source,
        fingerprint=fingerprint,
        report=report,
    )
    for split in SPLITS:
        if len(dataset.split(split)[1]) == 0:
            raise DatasetError(f"No readable images were found in the {split} split of {source}.")
    _warn_skipped(report)
    return dataset


# --------------------------------------------------------------------------------------------
# Kaggle CSV
# --------------------------------------------------------------------------------------------


def _find_csv(root: Path) -> Path | None:
    if not root.is_dir():
        return None
    for name in ("fer2013.csv", "icml_face_data.csv"):
        if (root / name).is_file():
            return root / name
    csvs = sorted(root.glob("*.csv"))
    return csvs[0] if len(csvs) == 1 else None


def parse_fer_csv(stream: io.IOBase | str | os.PathLike[str], source: str, fingerprint: str) -> FerDataset:
    """Parse the Kaggle ``emotion,pixels,Usage`` CSV into a dataset; bad rows are skipped and counted."""
    import pandas as pd

    try:
        frame = pd.read_csv(stream, dtype=str, skipinitialspace=True)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise DatasetError(f"{source} is not a readable FER2013 CSV file ({exc}).") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    needed = {"emotion", "pixels", "Usage"}
    if missing := needed - set(frame.columns):
        raise DatasetError(
            f"{source} is missing the column(s) {', '.join(sorted(missing))}; "
            "the FER2013 CSV has emotion, pixels and Usage."
        )
    report = LoadReport()
    n = len(frame)
    images = np.zeros((n, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    labels = np.zeros(n, dtype=np.int64)
    splits = np.empty(n, dtype=object)
    kept = np.zeros(n, dtype=bool)
    csv_to_ours = {i: EMOTIONS.index(name) for i, name in enumerate(CSV_LABEL_ORDER)}
    for i, (emotion, pixels, usage) in enumerate(zip(frame["emotion"], frame["pixels"], frame["Usage"])):
        try:
            values = np.array(str(pixels).split(), dtype=np.int64)
            label = int(str(emotion).strip())
        except ValueError:
            report.skipped.append(f"row {i + 2}: unreadable values")
            continue
        split = CSV_USAGE_TO_SPLIT.get(str(usage).strip())
        if (
            values.size != N_PIXELS
            or label not in csv_to_ours
            or split is None
            or values.min() < 0
            or values.max() > 255
        ):
            report.skipped.append(f"row {i + 2}: expected 2304 pixels 0-255, a label 0-6 and a known Usage")
            continue
        images[i] = values.reshape(IMAGE_SIZE, IMAGE_SIZE)
        labels[i] = csv_to_ours[label]
        splits[i] = split
        kept[i] = True
    order = np.argsort(splits != "train", kind="stable")  # train rows first, original order kept
    n_train = int(np.sum(splits == "train"))
    return _assemble(images[order], labels[order], kept[order], n_train, source, fingerprint, report)


def _load_csv(path: Path, use_cache: bool) -> FerDataset:
    stat = path.stat()
    fingerprint = _fingerprint([f"csv|{path.name}|{stat.st_size}|{stat.st_mtime_ns}"])
    if use_cache and (cached := _read_cache(fingerprint, str(path))) is not None:
        return cached
    dataset = parse_fer_csv(path, str(path), fingerprint)
    if use_cache:
        _write_cache(dataset)
    return dataset


# --------------------------------------------------------------------------------------------
# Zip archives
# --------------------------------------------------------------------------------------------


def _safe_members(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """Members of a zip, refusing absolute paths and '..' (path traversal)."""
    members = []
    for info in archive.infolist():
        path = PurePosixPath(info.filename.replace("\\", "/"))
        if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
            raise DatasetError(f"The zip file contains an unsafe path ({info.filename!r}); it was refused.")
        members.append(info)
    return members


def _zip_layout(members: Sequence[zipfile.ZipInfo]) -> tuple[str, str]:
    """Find ('csv', member name) or ('folder', prefix before train/) inside a zip."""
    names = [m.filename.replace("\\", "/") for m in members if not m.is_dir()]
    csvs = [n for n in names if n.lower().endswith(".csv") and not n.split("/")[-1].startswith(".")]
    for name in names:
        parts = name.split("/")
        for depth, part in enumerate(parts[:-2]):
            if part == "train" and parts[depth + 1] in EMOTIONS:
                return "folder", "/".join(parts[:depth])
    if csvs:
        preferred = [n for n in csvs if n.split("/")[-1] == "fer2013.csv"]
        return "csv", (preferred or csvs)[0]
    raise DatasetError("The zip holds neither a train/ and test/ image folder nor a FER2013 CSV file.")


def _load_zip(path: Path, use_cache: bool, progress: ProgressFn | None) -> FerDataset:
    stat = path.stat()
    fingerprint = _fingerprint([f"zip|{path.name}|{stat.st_size}|{stat.st_mtime_ns}"])
    if use_cache and (cached := _read_cache(fingerprint, str(path))) is not None:
        return cached
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DatasetError(f"{path.name} is not a readable zip file.") from exc
    with archive:
        members = _safe_members(archive)
        kind, where = _zip_layout(members)
        if kind == "csv":
            with archive.open(where) as handle:
                dataset = parse_fer_csv(io.TextIOWrapper(handle, encoding="utf-8"), f"{path}:{where}", fingerprint)
        else:
            dataset = _load_zip_folder(archive, members, where, str(path), fingerprint, progress)
    if use_cache:
        _write_cache(dataset)
    return dataset


def _load_zip_folder(
    archive: zipfile.ZipFile,
    members: Sequence[zipfile.ZipInfo],
    prefix: str,
    source: str,
    fingerprint: str,
    progress: ProgressFn | None,
) -> FerDataset:
    base = f"{prefix}/" if prefix else ""
    per_split: dict[str, list[tuple[zipfile.ZipInfo, int]]] = {s: [] for s in SPLITS}
    found: dict[str, set[str]] = {s: set() for s in SPLITS}
    for info in members:
        name = info.filename.replace("\\", "/")
        if info.is_dir() or not name.startswith(base):
            continue
        parts = name[len(base) :].split("/")
        if len(parts) != 3 or parts[0] not in SPLITS or parts[2].startswith("."):
            continue
        found[parts[0]].add(parts[1])
        if parts[1] in EMOTIONS:
            per_split[parts[0]].append((info, EMOTIONS.index(parts[1])))
    for split in SPLITS:
        if not found[split]:
            raise DatasetError(f"The zip has no '{split}/' folder with emotion sub-folders.")
        if missing := [e for e in EMOTIONS if e not in found[split]]:
            raise DatasetError(f"'{split}/' in the zip is missing the emotion folder(s): {', '.join(missing)}.")
        if extra := sorted(found[split] - set(EMOTIONS)):
            raise DatasetError(f"'{split}/' in the zip has unexpected folder(s): {', '.join(extra)}.")
        per_split[split].sort(key=lambda item: (item[1], item[0].filename))
    # Reading from one ZipFile object is not thread-safe, so read bytes first, decode in parallel.
    files = per_split["train"] + per_split["test"]
    blobs = [archive.read(info) for info, _ in files]
    report = LoadReport()
    images, kept = _decode_many(blobs, decode_face, [info.filename for info, _ in files], progress, report)
    labels = np.array([label for _, label in files], dtype=np.int64)
    return _assemble(images, labels, kept, len(per_split["train"]), source, fingerprint, report)


def install_dataset_zip(zip_path: str | os.PathLike[str], dest: str | os.PathLike[str]) -> Path:
    """Validate a FER2013 zip and unpack it into ``dest`` atomically; return ``dest``.

    The archive is fully checked (safe paths, a usable layout, decodable data) in a temporary
    folder beside ``dest``; only then is it renamed into place, so a bad zip leaves nothing behind.
    """
    zip_path = Path(zip_path)
    dest = Path(dest)
    dataset = _load_zip(zip_path, use_cache=False, progress=None)  # raises DatasetError if unusable
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".fer-unpack-", dir=dest.parent))
    try:
        with zipfile.ZipFile(zip_path) as archive:
            members = _safe_members(archive)
            kind, where = _zip_layout(members)
            if kind == "csv":
                target = staging / "fer2013.csv"
                with archive.open(where) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
            else:
                base = f"{where}/" if where else ""
                for info in members:
                    name = info.filename.replace("\\", "/")
                    if info.is_dir() or not name.startswith(base):
                        continue
                    target = staging / name[len(base) :]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with archive.open(info) as src, open(target, "wb") as out:
                        shutil.copyfileobj(src, out)
        if dest.exists():
            backup = dest.with_name(dest.name + ".old")
            shutil.rmtree(backup, ignore_errors=True)
            os.replace(dest, backup)
            os.replace(staging, dest)
            shutil.rmtree(backup, ignore_errors=True)
        else:
            os.replace(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.info("Installed %d + %d images into %s", len(dataset.y_train), len(dataset.y_test), dest)
    return dest


# --------------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------------


def load_dataset(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    use_cache: bool = True,
    progress: ProgressFn | None = None,
) -> FerDataset:
    """Load FER2013 from a folder (image folders or a CSV inside), a ``.csv`` or a ``.zip``."""
    root = resolve_data_dir(data_dir)
    if root.is_file():
        suffix = root.suffix.lower()
        if suffix == ".zip":
            return _load_zip(root, use_cache, progress)
        if suffix == ".csv":
            return _load_csv(root, use_cache)
        raise DatasetError(f"{root} is a file but not a .zip or .csv; point to the FER2013 folder instead.")
    if root.is_dir() and not (root / "train").exists() and (csv := _find_csv(root)) is not None:
        return _load_csv(csv, use_cache)
    return _load_image_folder(root, use_cache, progress)


def validation_split(
    x: np.ndarray,
    y: np.ndarray,
    fraction: float = VALIDATION_FRACTION,
    seed: int = SEED,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stratified split of the training data: ``(x_fit, y_fit, x_val, y_val)``."""
    from sklearn.model_selection import train_test_split

    if not 0.0 < fraction < 1.0:
        raise ValueError(f"The validation fraction must be between 0 and 1, not {fraction}.")
    indices = np.arange(len(y))
    counts = np.bincount(y)
    stratify = y if counts[counts > 0].min() >= 2 else None
    fit_idx, val_idx = train_test_split(indices, test_size=fraction, random_state=seed, stratify=stratify)
    return x[fit_idx], y[fit_idx], x[val_idx], y[val_idx]


def subsample(x: np.ndarray, y: np.ndarray, limit: int | None, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """A stratified random subset of at most ``limit`` samples (all of them if ``limit`` is None)."""
    if limit is None or limit >= len(y):
        return x, y
    if limit < len(EMOTIONS):
        raise ValueError(f"A subset needs at least {len(EMOTIONS)} images (one per class), not {limit}.")
    from sklearn.model_selection import train_test_split

    counts = np.bincount(y)
    n_classes = int((counts > 0).sum())
    # Stratifying needs two images per class and room for every class on both sides of the cut.
    can_stratify = counts[counts > 0].min() >= 2 and min(limit, len(y) - limit) >= n_classes
    stratify = y if can_stratify else None
    keep, _ = train_test_split(np.arange(len(y)), train_size=limit, random_state=seed, stratify=stratify)
    keep = np.sort(keep)
    return x[keep], y[keep]

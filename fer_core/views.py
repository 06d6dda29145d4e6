"""Tables, arrays and teaching sentences for the dashboard, computed from summaries and model cards.

Pure data in, pure data out (pandas frames, numpy arrays, strings): the pages draw them, the tests
check them. Nothing here imports Streamlit or Plotly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from fer_core.cards import ModelCard, ModelCards
from fer_core.constants import EMOTIONS, IMAGE_SIZE, N_PIXELS
from fer_core.explain import linear_feature_weights
from fer_core.faces import FacePrediction
from fer_core.live import LiveSnapshot
from fer_core.models import REGISTRY
from fer_core.photo import PhotoAnalysis
from fer_core.video import VideoAnalysis, VideoProgress

#: Columns of the comparison table where a lower value is better.
LOWER_IS_BETTER: frozenset[str] = frozenset({"Training time (s)", "Parameters", "Size (MB)", "ms / image"})


def train_command(name: str) -> str:
    """The shell command that trains a registered model into ``artifacts/models``."""
    return f"python -m fer_core train {name}"


def format_seconds(seconds: float | None) -> str:
    """``1 h 02 min``, ``3 min 05 s`` or ``42 s``."""
    if seconds is None:
        return "—"
    seconds = round(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds} s"


# --------------------------------------------------------------------------------------------
# EDA
# --------------------------------------------------------------------------------------------


def class_distribution(summary: dict[str, Any]) -> pd.DataFrame:
    """Long table: split, emotion, count, percent (of that split)."""
    rows = [
        {
            "split": split,
            "emotion": emotion,
            "count": int(summary["counts"][split][emotion]),
            "percent": float(summary["percentages"][split][emotion]),
        }
        for split in ("train", "test")
        for emotion in EMOTIONS
    ]
    return pd.DataFrame(rows)


def imbalance_ratio(summary: dict[str, Any]) -> float:
    """Largest over smallest training-class count, from the counts (the summary's copy is rounded)."""
    train = summary["counts"]["train"]
    return max(train.values()) / max(min(train.values()), 1)


def distribution_note(summary: dict[str, Any]) -> str:
    """A teaching sentence about class imbalance, true of ``summary``'s numbers."""
    train = summary["counts"]["train"]
    largest = max(train, key=train.get)
    smallest = min(train, key=train.get)
    ratio = imbalance_ratio(summary)
    pct = summary["percentages"]["train"]
    return (
        f"**{largest.capitalize()}** has {train[largest]:,} training images and **{smallest}** only "
        f"{train[smallest]:,} — a {ratio:.1f} : 1 imbalance ({pct[smallest]:.1f}% of the training set). "
        f"A model that never predicts {smallest} loses almost no accuracy, which is why we also report "
        "macro-F1 and per-class recall."
    )


def pixel_histogram(summary: dict[str, Any], *, unit_scale: bool) -> pd.DataFrame:
    """Long table of the 256-level pixel histogram per split, as a fraction of that split's pixels."""
    levels = np.arange(256)
    x = levels / 255.0 if unit_scale else levels
    frames = []
    for split in ("train", "test"):
        counts = np.asarray(summary["pixel_histogram"][split], dtype=np.float64)
        frames.append(pd.DataFrame({"intensity": x, "fraction": counts / counts.sum(), "split": split}))
    return pd.concat(frames, ignore_index=True)


def histogram_note(summary: dict[str, Any]) -> str:
    """A sentence on the ends of the intensity range, compared with their neighbouring grey levels.

    Pure black (0) is set against levels 1-5 and pure white (255) against 250-254: a real pile-up
    (clipping after contrast stretching) makes the end level stand out from its neighbours. The
    wording follows the measured ratio (1.5x or more counts as a pile-up).
    """
    counts = np.asarray(summary["pixel_histogram"]["train"], dtype=np.float64)
    share = counts / counts.sum()
    ends = {
        "black (0)": (share[0], float(share[1:6].mean())),
        "white (255)": (share[255], float(share[250:255].mean())),
    }
    parts, piled = [], []
    for name, (end, near) in ends.items():
        ratio = end / near if near > 0 else float("inf")
        parts.append(
            f"pure {name} holds {end:.2%} of the training pixels, {ratio:.1f}x its neighbouring levels ({near:.2%})"
        )
        if ratio >= 1.5:
            piled.append(name.split()[0])
    if piled:
        verdict = (
            f"so {' and '.join(piled)} pile{'s' if len(piled) == 1 else ''} up: many faces were contrast-stretched "
            "and clipped"
        )
    else:
        verdict = "so neither end piles up: clipping is rare"
    text = "; ".join(parts)
    mean = f"Mean intensity {summary['pixel_mean']:.0f} ± {summary['pixel_std']:.0f}."
    return f"{text[0].upper()}{text[1:]}, {verdict}. {mean}"


def per_class_brightness(summary: dict[str, Any]) -> pd.DataFrame:
    """Mean brightness and contrast (pixel std) per emotion, from the training split."""
    rows = [{"emotion": e, **summary["per_class"][e]} for e in EMOTIONS if e in summary["per_class"]]
    return pd.DataFrame(rows)


def mean_faces(summary: dict[str, Any]) -> dict[str, np.ndarray]:
    """Mean face per emotion as float ``(48, 48)`` arrays in 0-255."""
    return {e: np.asarray(summary["mean_faces"][e], dtype=np.float32) for e in EMOTIONS if e in summary["mean_faces"]}


def overall_mean_face(summary: dict[str, Any]) -> np.ndarray:
    """The mean training face over all classes ``(48, 48)``, weighted by class counts."""
    faces = mean_faces(summary)
    weights = np.array([summary["counts"]["train"][e] for e in faces], dtype=np.float64)
    stack = np.stack(list(faces.values()))  # (7, 48, 48)
    return np.tensordot(weights / weights.sum(), stack, axes=1).astype(np.float32)


def drift_frame(summary: dict[str, Any], metric: str) -> pd.DataFrame:
    """Long table of one drift metric's histogram per split, as density (so split sizes compare)."""
    data = summary["drift"]["metrics"][metric]
    edges = np.asarray(data["bin_edges"], dtype=np.float64)
    centres = 0.5 * (edges[1:] + edges[:-1])
    frames = []
    for split in ("train", "test"):
        counts = np.asarray(data[split]["histogram"], dtype=np.float64)
        frames.append(pd.DataFrame({metric: centres, "share": counts / max(counts.sum(), 1.0), "split": split}))
    return pd.concat(frames, ignore_index=True)


def sample_indices(labels: np.ndarray, emotion: str | None, n: int, seed: int) -> np.ndarray:
    """``n`` reproducible random indices, optionally only of one emotion (fewer if it has fewer)."""
    pool = np.arange(len(labels)) if emotion is None else np.flatnonzero(labels == EMOTIONS.index(emotion))
    rng = np.random.default_rng(seed)
    return rng.choice(pool, size=min(n, len(pool)), replace=False) if len(pool) else pool


def upscale(face: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscaling ``(48, 48)`` -> ``(48 f, 48 f)``: pixels stay crisp squares."""
    return np.repeat(np.repeat(np.asarray(face), factor, axis=0), factor, axis=1)


def brightness_note(brightness: pd.DataFrame) -> str:
    """Which emotion is brightest and darkest, and how little contrast varies (from :func:`per_class_brightness`)."""
    brightest = brightness.loc[brightness["brightness"].idxmax()]
    darkest = brightness.loc[brightness["brightness"].idxmin()]
    return (
        f"{brightest['emotion'].capitalize()} faces are the brightest on average ({brightest['brightness']:.0f}) and "
        f"{darkest['emotion']} the darkest ({darkest['brightness']:.0f}); contrast varies only between "
        f"{brightness['contrast'].min():.1f} and {brightness['contrast'].max():.1f}, so brightness alone says little."
    )


def duplicates_note(summary: dict[str, Any]) -> str:
    """What blank and duplicate images are, and how many test images leak from train."""
    leaked = summary["duplicates"]["test_in_train"]
    return (
        "Blank means a nearly constant image (pixel std below 2). Exact duplicates are byte-identical faces; "
        f"{leaked} test image(s) also appear in train, so a model could have memorised them — a leak to keep small."
    )


def drift_note(summary: dict[str, Any]) -> str:
    """The measured train / test differences against their alarm levels, and why they matter."""
    drift = summary["drift"]
    metrics, thresholds = drift["metrics"], drift["thresholds"]
    parts = []
    for metric in ("contrast", "sharpness"):
        m = metrics[metric]
        train, test = m["train"]["quantiles"]["p50"], m["test"]["quantiles"]["p50"]
        higher = "test" if test > train else "train"
        parts.append(
            f"median {metric} is {m['relative_difference']:.0%} higher in {higher} (train {train:,.1f}, test "
            f"{test:,.1f}; alarm at {thresholds[metric]:.0%})"
        )
    return (
        f"{parts[0][0].upper()}{parts[0][1:]}; {parts[1]}. **Why it matters:** the validation split is carved "
        "from train, so if test images differ, a model can ace validation and still do worse on test."
    )


# --------------------------------------------------------------------------------------------
# Model cards
# --------------------------------------------------------------------------------------------


def not_compared(cards: ModelCards) -> dict[str, str]:
    """Models missing from the leaderboard and comparison, with the reason (untrained, broken, or no test numbers)."""
    reasons = dict(cards.missing)
    for name in cards.trained:
        if name not in cards.evaluated:
            reasons[name] = "Trained without test-split numbers, so it cannot be compared."
    return {name: reasons[name] for name in REGISTRY if name in reasons}


def training_runs(run: ModelCard, installed: ModelCard | None) -> dict[str, ModelCard]:
    """A finished run and, if it has test numbers, the installed model of the same kind, by label."""
    return {"This run": run, **({"Installed model": installed} if installed is not None else {})}


def leaderboard(cards: ModelCards) -> pd.DataFrame:
    """One row per evaluated model, best test accuracy first."""
    rows = [
        {
            "name": name,
            "Model": card.title,
            "Test accuracy": card.test_accuracy,
            "Macro-F1": card.test_macro_f1,
            "Trained on": card.n_train,
            "Epochs": card.epochs_run,
            "Training time (s)": card.training_seconds,
            "Device": training_device(card),
        }
        for name, card in cards.evaluated.items()
    ]
    frame = pd.DataFrame(rows)
    return frame.sort_values("Test accuracy", ascending=False, ignore_index=True) if len(frame) else frame


def leaderboard_note(cards: ModelCards) -> str:
    """The best model's accuracy, set against always answering the commonest emotion and against people."""
    best = cards.best(among=cards.evaluated)
    if best is None:
        return "No model is trained yet."
    card = cards.evaluated[best]
    support = {e: m["support"] for e, m in card.headline_metrics["per_class"].items()}
    majority = max(support, key=support.get)
    total = sum(support.values())
    note = (
        f"Best so far: **{card.title}** with {card.test_accuracy:.1%} accuracy on {total:,} test images. "
        f"For scale: always answering *{majority}* would score {support[majority] / total:.1%}."
    )
    plus = card.ferplus_test or {}
    if plus.get("fer2013_label_agreement") is not None:
        note += (
            f" And people? FER2013's labels are one person's guess: asked about the same test faces, the majority "
            f"of 10 FER+ annotators agrees with them on only {plus['fer2013_label_agreement']:.1%}, and "
            f"{card.title} agrees with that majority on {plus['accuracy']:.1%}. So {card.test_accuracy:.1%} means "
            "agreeing with one labeller, not being right about how a person feels."
        )
    return note


def default_detector_model(cards: ModelCards) -> str | None:
    """The detector page's default model (:meth:`ModelCards.photo_model`)."""
    return cards.photo_model()


def comparison_row(card: ModelCard, label: str | None = None) -> dict[str, Any]:
    """One model's row of the comparison table: headline metrics, per-class recall and costs."""
    metrics = card.headline_metrics
    row: dict[str, Any] = {
        "Model": label or card.title,
        "Accuracy": card.test_accuracy,
        "Macro-F1": card.test_macro_f1,
        "Weighted-F1": metrics["weighted_f1"],
        "FER+ majority": card.ferplus_accuracy,  # beside the other headline numbers, not past the recalls
    }
    for emotion in EMOTIONS:
        row[f"Recall {emotion}"] = metrics["per_class"][emotion]["recall"]
    row["Training time (s)"] = card.training_seconds
    row["Device"] = training_device(card)
    row["Parameters"] = card.n_parameters
    row["Size (MB)"] = round(card.file_size_bytes / 1e6, 2) if card.file_size_bytes else None
    row["ms / image"] = (card.inference or {}).get("ms_per_image_batch1")
    return row


def comparison_table(cards: ModelCards) -> pd.DataFrame:
    """The model-comparison table, one row per evaluated model."""
    return pd.DataFrame([comparison_row(card) for card in cards.evaluated.values()])


def ferplus_note(cards: ModelCards) -> str | None:
    """What the FER+ column means, with the size of its test set and FER2013's own agreement (None if unmeasured)."""
    measured = [card.ferplus_test for card in cards.evaluated.values() if card.ferplus_test]
    if not measured:
        return None
    first = measured[0]
    return (
        f"*FER+ majority*: accuracy against the majority vote of 10 annotators, on the {first['n']:,} test faces "
        f"that have a clear one. FER2013's own single label agrees with that majority on only "
        f"{first['fer2013_label_agreement']:.1%} of them: people disagree about faces too. "
        f"({first.get('credit', 'FER+ votes, MIT licence')})"
    )


def best_in_column(table: pd.DataFrame) -> dict[str, Any]:
    """The best value of each numeric column (max, or min where lower is better)."""
    best = {}
    for column in table.columns:
        if column == "Model" or not pd.api.types.is_numeric_dtype(table[column]) or table[column].isna().all():
            continue
        best[column] = table[column].min() if column in LOWER_IS_BETTER else table[column].max()
    return best


def comparison_note(cards: ModelCards) -> str:
    """Teaching sentences true of the evaluated models' cards."""
    evaluated = cards.evaluated
    best = cards.best(among=evaluated)
    if best is None:
        return "No model is trained yet, so there is nothing to compare."
    card = evaluated[best]
    per_class = card.headline_metrics["per_class"]
    hardest = min(per_class, key=lambda e: per_class[e]["recall"])
    easiest = max(per_class, key=lambda e: per_class[e]["recall"])
    gap = card.test_accuracy - card.test_macro_f1
    return (
        f"The most accurate model here is **{card.title}** at {card.test_accuracy:.1%} test accuracy "
        f"(macro-F1 {card.test_macro_f1:.3f}). It recognises **{easiest}** best "
        f"(recall {per_class[easiest]['recall']:.0%}) and **{hardest}** worst ({per_class[hardest]['recall']:.0%}); "
        + (
            f"the {gap:.2f} gap between accuracy and macro-F1 is the price of the rare classes."
            if gap > 0.02
            else "accuracy and macro-F1 are close, so it treats the classes fairly evenly."
        )
    )


def confusion(card: ModelCard, *, normalised: bool) -> np.ndarray:
    """The test confusion matrix ``(7, 7)`` (rows = true class); row-normalised to recall if asked."""
    matrix = np.asarray(card.headline_metrics["confusion_matrix"], dtype=np.float64)
    if normalised:
        matrix = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1.0)
    return matrix


def worst_confusion(card: ModelCard) -> tuple[str, str, float]:
    """The most common mistake: (true emotion, predicted emotion, share of that emotion's faces)."""
    recall = confusion(card, normalised=True)
    off_diagonal = recall - np.diag(np.diag(recall))
    true_index, predicted_index = np.unravel_index(off_diagonal.argmax(), off_diagonal.shape)
    return EMOTIONS[true_index], EMOTIONS[predicted_index], float(off_diagonal.max())


def worst_confusion_note(card: ModelCard) -> str:
    """One sentence on a model's most common confusion."""
    true_emotion, predicted_emotion, share = worst_confusion(card)
    return (
        f"{card.title}'s most common confusion: {share:.0%} of **{true_emotion}** faces are called "
        f"**{predicted_emotion}**. Click a cell to see those mistakes below (when the dataset is present)."
    )


def training_comparison(run: ModelCard, installed: ModelCard | None) -> pd.DataFrame:
    """A finished training run next to the installed model of the same kind (if it has test numbers)."""
    rows = training_runs(run, installed)
    return pd.DataFrame(
        [
            {
                "": label,
                "Accuracy": card.test_accuracy,
                "Macro-F1": card.test_macro_f1,
                "Weighted-F1": card.headline_metrics["weighted_f1"],
                "Trained on": card.n_train,
                "Epochs": card.epochs_run,
                "Training time": format_seconds(card.training_seconds),
                "Device": training_device(card),
                **{f"Recall {e}": card.headline_metrics["per_class"][e]["recall"] for e in EMOTIONS},
            }
            for label, card in rows.items()
        ]
    )


def per_class_f1(cards: ModelCards) -> pd.DataFrame:
    """Long table: model, emotion, F1."""
    rows = [
        {"model": card.title, "emotion": e, "F1": card.headline_metrics["per_class"][e]["f1"]}
        for card in cards.evaluated.values()
        for e in EMOTIONS
    ]
    return pd.DataFrame(rows)


#: How the cards' ``features_experiment`` names the two inputs, and how the dashboard labels them.
FEATURE_SETS: dict[str, str] = {"pixels_only": "pixels only", "hog_plus_pixels": "HOG + pixels"}


def features_lesson(cards: ModelCards) -> pd.DataFrame:
    """Long table: model, features, test accuracy — for models whose card records both input choices.

    Logistic regression and the MLP were trained on raw pixels and on HOG edge features + pixels;
    their cards keep both test accuracies, the lesson that hand-made features matter to models that
    cannot find edges by themselves.
    """
    rows = []
    for card in cards.evaluated.values():
        experiment = card.extra.get("features_experiment") or {}
        if not all(key in experiment for key in FEATURE_SETS):
            continue
        for key, label in FEATURE_SETS.items():
            accuracy = experiment[key].get("test_accuracy")
            if accuracy is not None:
                rows.append({"model": card.title, "features": label, "accuracy": float(accuracy)})
    return pd.DataFrame(rows, columns=["model", "features", "accuracy"])


def features_note(lesson: pd.DataFrame) -> str:
    """One sentence on what HOG features added, per model, from :func:`features_lesson`."""
    table = lesson.pivot(index="model", columns="features", values="accuracy").dropna()
    gains = [f"{model} {row['pixels only']:.1%} → {row['HOG + pixels']:.1%}" for model, row in table.iterrows()]
    return (
        "Test accuracy on raw pixels vs with HOG edge features (edge directions per 8x8 cell) added: "
        + "; ".join(gains)
        + ". Neither model knows which pixels are neighbours, so ready-made edges help a lot; a CNN learns "
        "its own edge detectors and needs no such help."
    )


def f1_note(f1: pd.DataFrame) -> str:
    """The easiest and hardest emotion, averaged over the models (from :func:`per_class_f1`)."""
    mean_f1 = f1.groupby("emotion")["F1"].mean()
    return (
        f"Averaged over the models, **{mean_f1.idxmax()}** is the easiest emotion (mean F1 {mean_f1.max():.2f}) and "
        f"**{mean_f1.idxmin()}** the hardest ({mean_f1.min():.2f})."
    )


def keras_histories(cards: ModelCards) -> pd.DataFrame:
    """Long table of Keras training curves: model, epoch, metric, split, value."""
    rows = []
    for card in cards.evaluated.values():
        if card.family != "keras":
            continue
        for key, values in card.history.items():
            split = "validation" if key.startswith("val_") else "train"
            metric = key.removeprefix("val_")
            if metric not in ("loss", "accuracy"):
                continue
            rows.extend(
                {"model": card.title, "epoch": i + 1, "metric": metric, "split": split, "value": v}
                for i, v in enumerate(values)
            )
    return pd.DataFrame(rows, columns=["model", "epoch", "metric", "split", "value"])


def history_frame(history: dict[str, list[float]]) -> pd.DataFrame:
    """One run's history as a long table: epoch, metric, split, value."""
    rows = []
    for key, values in history.items():
        metric = key.removeprefix("val_")
        if metric not in ("loss", "accuracy"):
            continue
        split = "validation" if key.startswith("val_") else "train"
        rows.extend({"epoch": i + 1, "metric": metric, "split": split, "value": v} for i, v in enumerate(values))
    return pd.DataFrame(rows, columns=["epoch", "metric", "split", "value"])


def logreg_pixel_weights(estimator: Any) -> np.ndarray:
    """Per-class weights on raw pixels ``(7, 48, 48)`` of a scale -> [PCA] -> logistic-regression pipeline.

    The logit of class k is linear in the standardised features, so the pixel features' weights map
    straight back to a 48x48 template (HOG features, where the model also uses them, are left out).
    """
    weights = linear_feature_weights(estimator)[:, -N_PIXELS:]  # on standardised pixels
    scale = estimator.named_steps["scale"].scale_[-N_PIXELS:]
    weights = weights / np.where(scale > 0, scale, 1.0)  # (7, 2304), on raw pixels
    return weights.reshape(len(weights), IMAGE_SIZE, IMAGE_SIZE)


def importance_note(importance: np.ndarray) -> str:
    """Where the forest's 50 most important pixels sit (rows of the 48x48 face)."""
    rows = np.unravel_index(np.argsort(importance, axis=None)[-50:], importance.shape)[0]
    return (
        f"The 50 most important pixels sit mostly in rows {int(np.percentile(rows, 10))}–"
        f"{int(np.percentile(rows, 90))} (of 48); the brighter a pixel, the more its splits reduced impurity."
    )


def logreg_weights_note(card: ModelCard, weight_share: float | None = None) -> str:
    """How to read the logistic-regression weight images, and what they leave out (from its card and weights).

    ``weight_share`` is the pixels' share of the model's total absolute weight (the rest is on HOG).
    """
    note = (
        "Each image is one emotion's template: where a bright pixel pushes the answer towards that emotion the "
        "image is blue, where it pushes away, red. The model is linear, so this is exactly what it computes."
    )
    if card.params.get("features") != "hog+pixels":
        return note
    if weight_share is not None:
        note += (
            f" But these pictures show only the pixel weights, {weight_share:.0%} of the model's total weight; "
            f"the other {1 - weight_share:.0%} sits on HOG features (edge directions in 8x8-pixel cells), which "
            "are not pixels and cannot be drawn this way."
        )
    else:
        note += " These pictures show only its pixel weights; its HOG features (edge directions) are not drawn."
    pixels_only = (card.extra.get("features_experiment") or {}).get("pixels_only", {}).get("test_accuracy")
    if isinstance(pixels_only, (int, float)) and card.test_accuracy is not None:
        note += (
            f" The HOG features matter: on raw pixels alone the same classifier scores about {pixels_only:.0%} "
            f"instead of {card.test_accuracy:.0%}."
        )
    return note


def pixel_weight_share(estimator: Any) -> float:
    """The pixels' share of a logistic regression's total absolute weight on standardised features."""
    weights = np.abs(linear_feature_weights(estimator))
    return float(weights[:, -N_PIXELS:].sum() / weights.sum())


def count_faces(n: int) -> str:
    """``1 face``, ``3 faces``."""
    return f"{n} face{'s' if n != 1 else ''}"


def dataset_counts_note(counts: dict[str, dict[str, int]]) -> str:
    """Images per emotion in each split, from :meth:`FerDataset.counts`."""
    parts = (f"{e} {counts['train'][e]:,} / {counts['test'][e]:,}" for e in EMOTIONS)
    return "Per emotion (train / test): " + " · ".join(parts)


def training_done_note(display_name: str, card: ModelCard) -> str:
    """What a finished training run reached, and whether it was stopped early."""
    stopped = " It was stopped early; the best weights so far were kept." if card.stopped_early else ""
    return (
        f"Finished training {display_name} in {format_seconds(card.training_seconds)} "
        f"on {card.n_train or 0:,} images: test accuracy {card.test_accuracy:.1%}.{stopped}"
    )


def photo_faces_notes(analysis: PhotoAnalysis) -> tuple[str, str | None]:
    """The annotated photo's caption, and a note when some faces get no detailed card (else None)."""
    n_faces = len(analysis.faces)
    caption = f"{count_faces(n_faces)} found in {analysis.milliseconds:.0f} ms, numbered left to right"
    if not analysis.n_hidden:
        return caption, None
    return caption, (
        f"{n_faces} faces found: all are boxed above; details below are for the {len(analysis.detailed)} largest "
        f"({analysis.n_hidden} smaller faces are only in the table and downloads)."
    )


def reliability_table(cards: ModelCards) -> pd.DataFrame:
    """Long table of every calibrated model's reliability bins on test, before and after scaling.

    Columns: model, when ("before" / "after"), confidence, accuracy, count (empty bins left out).
    """
    rows = []
    for card in cards.evaluated.values():
        calibration = card.calibrated
        if calibration is None:
            continue
        for when, table in (("before", calibration.reliability_before), ("after", calibration.reliability_after)):
            for confidence, accuracy, count in zip(
                table.get("confidence", []), table.get("accuracy", []), table.get("count", [])
            ):
                if count:
                    rows.append(
                        {
                            "model": card.title,
                            "when": when,
                            "confidence": confidence,
                            "accuracy": accuracy,
                            "count": count,
                        }
                    )
    return pd.DataFrame(rows, columns=["model", "when", "confidence", "accuracy", "count"])


def calibration_rows(cards: ModelCards) -> pd.DataFrame:
    """Per calibrated model: temperature, "not sure" threshold, test ECE before and after."""
    rows = []
    for card in cards.evaluated.values():
        calibration = card.calibrated
        if calibration is None or calibration.ece_before is None:
            continue
        rows.append(
            {
                "Model": card.title,
                "Temperature": round(calibration.temperature, 2),
                "ECE before": calibration.ece_before,
                "ECE after": calibration.ece_after,
                '"Not sure" below': calibration.not_sure_below,
            }
        )
    return pd.DataFrame(rows)


def calibration_note(table: pd.DataFrame) -> str:
    """What the calibration table shows, in numbers."""
    if table.empty:
        return "No model has calibration numbers yet."
    worst = table.loc[table["ECE before"].idxmax()]
    return (
        f"Before scaling, {worst['Model']} was the least honest: its stated confidence was off by "
        f"{worst['ECE before']:.1%} on average (expected calibration error, 15 bins, test split); after, "
        f"{worst['ECE after']:.1%}. A temperature above 1 softens an over-confident model, below 1 sharpens a "
        "timid one; the top emotion, and so the accuracy, never changes."
    )


def face_heading(face: FacePrediction, number: int) -> str:
    """A face's heading: its emotion in bold when the answer holds up, "not sure" and why when not."""
    if not face.not_sure:
        return f"**Face {number}: {face.emotion}** ({face.confidence:.0%})"
    return f"Face {number}: **not sure** — perhaps {face.emotion} ({face.confidence:.0%}); {', '.join(face.reasons)}"


def model_error_note(card: ModelCard) -> str:
    """A reminder of how often the model is wrong, and what its percentages mean after calibration."""
    accuracy = card.headline_accuracy
    if accuracy is None:
        return "This model was not evaluated, so how often it is wrong is unknown."
    wrong = 1 - accuracy
    note = (
        f"{card.title} is wrong on about {round(wrong * 10)} in 10 of FER2013's test faces ({wrong:.0%}), "
        "and more often on real photos."
    )
    calibration = card.calibrated
    if calibration is not None:
        note += " Its percentages are calibrated: of the answers it gives with 70 %, about 7 in 10 are right."
        if calibration.not_sure_below >= 1.0:
            note += " It always says **not sure**: even its most confident answers are mostly wrong."
        elif calibration.not_sure_below > 0.0:
            note += (
                f" Under {calibration.not_sure_below:.0%} it says **not sure**: there its answers are more "
                "often wrong than right."
            )
    return note


def live_status(snapshot: LiveSnapshot) -> str:
    """The live video's speed and how many faces are in view."""
    faces = f"{count_faces(snapshot.n_faces)} in view"
    return f"{snapshot.fps:.1f} frames per second · {snapshot.milliseconds_per_frame:.0f} ms per frame · {faces}"


def confident_mistakes(
    probabilities: np.ndarray, labels: np.ndarray, true_emotion: str, predicted_emotion: str, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the ``k`` test images of ``true_emotion`` predicted as ``predicted_emotion`` most confidently."""
    true_index, predicted_index = EMOTIONS.index(true_emotion), EMOTIONS.index(predicted_emotion)
    predicted = probabilities.argmax(axis=1)
    candidates = np.flatnonzero((labels == true_index) & (predicted == predicted_index))
    confidence = probabilities[candidates, predicted_index]
    order = np.argsort(-confidence, kind="stable")[:k]
    return candidates[order], confidence[order]


# --------------------------------------------------------------------------------------------
# Video files
# --------------------------------------------------------------------------------------------


def video_progress_text(progress: VideoProgress | None) -> str:
    """``Frame 120 of 1,800 · 0:04 of 1:00 of video · about 45 s left``."""
    if progress is None:
        return "Opening the video…"
    parts = [
        f"Frame {progress.frames_done:,}" + (f" of about {progress.frames_total:,}" if progress.frames_total else "")
    ]
    if progress.duration_s > 0:
        parts.append(f"{progress.seconds_done:.1f} of {progress.duration_s:.1f} s of video")
    eta = progress.eta_s
    parts.append(f"about {format_seconds(eta)} left" if eta is not None else "estimating the time left…")
    return " · ".join(parts)


def video_summary(analysis: VideoAnalysis) -> str:
    """One sentence: how much was analysed, how fast, and how many people were seen."""
    info = analysis.info
    people = len(analysis.people())
    seen = "nobody was seen" if people == 0 else f"{people} {'person' if people == 1 else 'people'} seen"
    every = "every frame" if analysis.settings.every == 1 else f"every {analysis.settings.every} frames"
    return (
        f"{info.name}: {analysis.frames_decoded:,} frames ({info.width}×{info.height}, {info.fps:.1f} fps), "
        f"{len(analysis.frames):,} classified ({every}) in {format_seconds(analysis.seconds)} — "
        f"{analysis.speed:.1f}× real time; {seen}."
    )


def people_table(analysis: VideoAnalysis) -> pd.DataFrame:
    """One row per person: when they are seen, their most frequent emotion and every emotion's share."""
    rows = []
    for person in analysis.people():
        row: dict[str, Any] = {
            "person": f"#{person.id}",
            "seen (frames)": person.frames_seen,
            "from (s)": round(person.first_s, 1),
            "to (s)": round(person.last_s, 1),
            "mostly": person.dominant,
        }
        row.update({e: f"{v:.0%}" for e, v in person.emotion_shares.items()})
        rows.append(row)
    return pd.DataFrame(rows)


def changes_table(analysis: VideoAnalysis) -> pd.DataFrame:
    """The moments a person's smoothed emotion changes."""
    changes = analysis.changes()
    return pd.DataFrame(
        [
            {"time (s)": c["t"], "frame": c["frame"], "person": f"#{c['id']}", "from": c["from"], "to": c["to"]}
            for c in changes
        ],
        columns=["time (s)", "frame", "person", "from", "to"],
    )


# --------------------------------------------------------------------------------------------
# The quiz and class mode
# --------------------------------------------------------------------------------------------


def quiz_scores_table(scores: dict[str, Any], model_title: str) -> pd.DataFrame:
    """You, the model and the crowd on the same faces, against FER2013's label and the FER+ majority."""
    rows = [
        ("You", scores["you"]),
        (model_title, scores["model"]),
        ("FER+ crowd (majority of 10 people)", scores["crowd"]),
    ]
    return pd.DataFrame(
        [
            {
                "who": who,
                "agrees with FER2013's label": f"{s['fer2013']:.0%}",
                "agrees with the FER+ majority": "—" if who.startswith("FER+") else f"{s['ferplus']:.0%}",
            }
            for who, s in rows
        ]
    )


def quiz_summary(scores: dict[str, Any], model_title: str) -> str:
    """One sentence comparing the player with the model and the crowd, from the scores it sits next to."""
    n = scores["n"]
    you, model, crowd = scores["you"]["fer2013"], scores["model"]["fer2013"], scores["crowd"]["fer2013"]
    if you > model:
        versus = f"you beat {model_title} ({you:.0%} against {model:.0%} of FER2013's labels)"
    elif you < model:
        versus = f"{model_title} beat you ({model:.0%} against your {you:.0%} of FER2013's labels)"
    else:
        versus = f"you and {model_title} tied ({you:.0%} of FER2013's labels each)"
    return (
        f"On these {n} faces {versus}. Even the majority of 10 people agreed with FER2013's label on only "
        f"{crowd:.0%} of them: a single label is not the truth about a face."
    )


def class_stats(board: Any, bank: Any, model_answers: np.ndarray) -> dict[str, float | int]:
    """The class's accuracy (all answers so far), the model's and the crowd's on the same faces.

    ``board`` is a :class:`fer_core.classroom.Board` whose faces index ``bank``; ``model_answers``
    are the model's answers to the class's faces, in order.
    """
    faces = np.asarray(board.info.faces)
    labels, majority = bank.labels[faces], bank.majority[faces]
    given = board.answers >= 0  # (students, faces)
    answered_faces = given.any(axis=0)
    n = int(given.sum())

    def share(hits: np.ndarray) -> float:
        return float(hits[given].mean()) if n else 0.0

    def on_answered(values: np.ndarray, truth: np.ndarray) -> float:
        return float((values == truth)[answered_faces].mean()) if answered_faces.any() else 0.0

    return {
        "students": int(board.answers.shape[0]),
        "answers": n,
        "class_fer2013": share(board.answers == labels[None, :]),
        "class_ferplus": share(board.answers == majority[None, :]),
        "model_fer2013": on_answered(model_answers, labels),
        "model_ferplus": on_answered(model_answers, majority),
        "crowd_fer2013": on_answered(majority, labels),
    }


def class_confusion(board: Any, bank: Any) -> np.ndarray:
    """Counts ``(7, 7)``: rows the FER+ majority of each answered face, columns what the class answered."""
    faces = np.asarray(board.info.faces)
    matrix = np.zeros((len(EMOTIONS), len(EMOTIONS)), dtype=np.int64)
    students, positions = np.nonzero(board.answers >= 0)
    np.add.at(matrix, (bank.majority[faces[positions]], board.answers[students, positions]), 1)
    return matrix


def leaderboard_table(board: Any, bank: Any) -> pd.DataFrame:
    """Nicknames by faces right (against the FER+ majority), then by FER2013 labels."""
    faces = np.asarray(board.info.faces)
    labels, majority = bank.labels[faces], bank.majority[faces]
    given = board.answers >= 0
    table = pd.DataFrame(
        {
            "nickname": list(board.nicknames),
            "answered": given.sum(axis=1),
            "right (FER+ majority)": ((board.answers == majority[None, :]) & given).sum(axis=1),
            "right (FER2013 label)": ((board.answers == labels[None, :]) & given).sum(axis=1),
        }
    )
    table = table.sort_values(["right (FER+ majority)", "right (FER2013 label)"], ascending=False, kind="stable")
    return table.reset_index(drop=True)


def hardest_faces(board: Any, bank: Any, k: int = 4) -> list[tuple[int, float, int]]:
    """The class's ``k`` hardest faces so far: (position, share right against the FER+ majority, answers)."""
    faces = np.asarray(board.info.faces)
    given = board.answers >= 0
    counts = given.sum(axis=0)
    right = ((board.answers == bank.majority[faces][None, :]) & given).sum(axis=0)
    answered = np.flatnonzero(counts > 0)
    rates = right[answered] / counts[answered]
    order = answered[np.argsort(rates, kind="stable")][:k]
    return [(int(p), float(right[p] / counts[p]), int(counts[p])) for p in order]


def label_noise_note(cards: ModelCards) -> str | None:
    """How often FER2013's label agrees with the FER+ crowd, and the best FER2013 model, from the cards."""
    name = cards.best(among=[n for n in cards.trained if cards.cards[n].labels == "fer2013"])
    card = cards.cards.get(name) if name else None
    plus = (card.ferplus_test or {}) if card else {}
    if not plus.get("accuracy") or plus.get("fer2013_label_agreement") is None:
        return None
    return (
        f"On the {plus['n']:,} FER2013 test faces where most of 10 FER+ annotators chose one of the seven emotions, "
        f"FER2013's own label agrees with them only {plus['fer2013_label_agreement']:.1%} of the time; "
        f"{card.title} agrees with them {plus['accuracy']:.1%} of the time. So when the Home page says the model "
        f"scores {card.headline_accuracy:.1%} on FER2013's labels, that is agreement with one labeller's guess, "
        "not with the truth about a face."
    )


# --------------------------------------------------------------------------------------------
# Every model on the same face
# --------------------------------------------------------------------------------------------

#: Families as a lesson names them.
CLASSIC_FAMILIES = frozenset({"sklearn"})


def all_models_table(cards: ModelCards, probabilities: dict[str, np.ndarray]) -> pd.DataFrame:
    """One row per model for one face: its answer, confidence, kind and FER2013 test accuracy."""
    rows = []
    for name, p in probabilities.items():
        card = cards.cards[name]
        best = int(np.argmax(p))
        rows.append(
            {
                "model": card.title,
                "kind": "classic ML" if card.family in CLASSIC_FAMILIES else "deep learning",
                "answer": EMOTIONS[best],
                "confidence": f"{p[best]:.0%}",
                "test accuracy": f"{card.headline_accuracy:.0%}" if card.headline_accuracy is not None else "—",
            }
        )
    return pd.DataFrame(rows)


def all_models_note(table: pd.DataFrame) -> str:
    """What differs between the models' answers for one face, in a sentence computed from the table."""
    answers = table["answer"].tolist()
    if len(set(answers)) == 1:
        return f"All {len(answers)} models say **{answers[0]}**."
    parts = []
    for kind in ("classic ML", "deep learning"):
        group = table[table["kind"] == kind]
        if group.empty:
            continue
        counts = group["answer"].value_counts()
        top, n = counts.index[0], int(counts.iloc[0])
        parts.append(f"the {kind} models say **{top}**" + ("" if n == len(group) else f" ({n} of {len(group)})"))
    majority = pd.Series(answers).value_counts()
    return (
        f"The models disagree: {'; '.join(parts)}. Most often: **{majority.index[0]}** "
        f"({int(majority.iloc[0])} of {len(answers)})."
    )


# --------------------------------------------------------------------------------------------
# Cameras
# --------------------------------------------------------------------------------------------

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})


def camera_problem(url: str | None) -> str | None:
    """Why a browser will give this page no camera, in plain words, or None when it may.

    Browsers allow cameras only on secure pages: https, or http on this computer (localhost).
    """
    if not url:
        return None
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme == "https" or (parts.hostname or "") in LOCAL_HOSTS:
        return None
    return (
        f"This page was opened over plain http from another computer ({parts.hostname}), and browsers only give "
        "cameras to secure pages (https, or the computer running the app). Ask whoever runs the app to start it "
        "with `make classroom` (https), or use **Upload photos** instead."
    )


CAMERA_HELP = (
    "No picture? Check that your device has a camera, that no other app is using it, and that you allowed this "
    "page to use it (the camera icon in the address bar). If you refused once, allow it there and reload."
)


def install_concerns(run: ModelCard, installed: ModelCard | None) -> list[str]:
    """Why installing a finished run may be a mistake, in sentences (empty when it is no worse).

    A run below always answering the commonest emotion has learnt nothing useful; a run below the
    installed model would replace a better one for every user of this server.
    """
    concerns = []
    accuracy = run.headline_accuracy
    if accuracy is None:
        return ["This run has no test accuracy, so nobody can tell whether it is any good."]
    support = {e: m["support"] for e, m in run.headline_metrics["per_class"].items()}
    commonest = max(support, key=support.get)
    baseline = support[commonest] / sum(support.values())
    if accuracy < baseline:
        concerns.append(
            f"This run scores {accuracy:.1%}, below always answering *{commonest}* ({baseline:.1%}): it has not "
            "learnt to recognise emotions yet."
        )
    if installed is not None and installed.headline_accuracy is not None and accuracy < installed.headline_accuracy:
        concerns.append(
            f"It is worse than the installed {installed.title} ({accuracy:.1%} against "
            f"{installed.headline_accuracy:.1%}), and installing replaces that model for everyone using this "
            "server (it can be restored below)."
        )
    return concerns


def subset_split_note(limit: int, validation_fraction: float) -> str:
    """How a training subset divides: the images that train and the ones held out to validate."""
    validate = int(round(limit * validation_fraction))
    return (
        f"{limit - validate:,} train, {validate:,} validate ({validation_fraction:.0%} held out to choose the epoch)."
    )


def page_trains_note(name: str) -> str | None:
    """What the Training page trains when it differs from the recipe's description (the ensembles)."""
    members = REGISTRY[name].default_params.get("ensemble_epochs") or []
    if len(members) < 2:
        return None
    return (
        f"Here the page trains **one** network of this recipe for the epochs you choose; the shipped model averages "
        f"{len(members)} networks trained with `python -m fer_core train {name}`."
    )


# --------------------------------------------------------------------------------------------
# Training page: presets, phases and devices
# --------------------------------------------------------------------------------------------

PRESET_CHOICES: dict[str, str] = {
    "lesson": "Lesson (done within 5 minutes)",
    "full": "Full recipe",
    "custom": "Custom",
}


def overall_progress_text(state: Any) -> str:
    """The whole run's bar: which phase of how many, and the time left over every phase."""
    phases = list(state.phases)
    where = ""
    if state.phase in phases:
        where = f"step {phases.index(state.phase) + 1} of {len(phases)}: {state.phase_label}"
    elif state.phase_label or state.message:
        where = state.phase_label or state.message
    if state.status == "stopping":
        return f"Stopping at the next batch · {where}" if where else "Stopping at the next batch"
    left = f" · about {format_seconds(state.eta_seconds)} left in all" if state.eta_seconds is not None else ""
    return f"Overall, {where}{left}" if where else f"Overall{left}"


def epoch_progress_text(state: Any) -> str:
    """The current epoch's bar, with the running loss and accuracy."""
    text = f"Epoch {state.epoch}/{state.epochs}, batch {state.batch}/{state.batches}"
    logs = state.batch_logs or {}
    if "loss" in logs:
        text += f" · running loss {logs['loss']:.3f}"
    if "accuracy" in logs:
        text += f", accuracy {logs['accuracy']:.1%}"
    return text


def preset_expectation(
    display_name: str,
    preset: str,
    estimate: tuple[float, bool] | None,
    found: dict[str, Any] | None,
    seed: float | None,
) -> str:
    """What to expect before Start: the duration here and, for a measured preset, the accuracy it reached."""
    if estimate is None:
        when = "Its duration on this computer is not known yet (run `make bench-presets` to measure the presets)."
    else:
        seconds, exact = estimate
        how = (
            "measured on our 2-core benchmark machine and scaled to this computer by a short speed check"
            if exact
            else "a rough estimate, scaled from the lesson preset's measured time by the number of images and epochs"
        )
        when = f"Expected duration here: **about {format_seconds(seconds)}**, evaluation included ({how})."
    if preset == "custom" or not found or found.get("accuracy") is None:
        return when
    reached = (
        f" In our benchmark this preset reached **{found['accuracy']:.1%}** test accuracy"
        f"{' (mirror-image averaging)' if found.get('tta') else ''} in {format_seconds(found['seconds'])}"
    )
    if seed is not None:
        verdict = "above" if found["accuracy"] > seed else "below"
        reached += f", {verdict} the seed notebook's {seed:.1%} for this kind of model"
    return f"{when}{reached}."


def run_folder_time(folder: Any) -> str:
    """``2026-12-03 14:05`` from a run folder named ``20261203-140512-...``."""
    stamp = str(getattr(folder, "name", folder))[:15]
    try:
        return f"{stamp[0:4]}-{stamp[4:6]}-{stamp[6:8]} {stamp[9:11]}:{stamp[11:13]}"
    except IndexError:
        return stamp


def training_device(card: ModelCard) -> str:
    """Where a model was trained: the GPU named in its card, else this kind of CPU machine."""
    machine = card.machine or {}
    compute = str(machine.get("training_compute") or machine.get("compute") or "")
    if "NVIDIA" in compute or "GPU" in compute.upper():
        gpu = compute.split(" on ", 1)[-1].split(" x")[0] if " on " in compute else "GPU"
        return f"GPU ({gpu.replace('NVIDIA ', '')})"
    cores = compute.split("(", 1)[-1].rstrip(")") if "(" in compute else ""
    return f"CPU ({cores})" if cores else "CPU"


def training_time_note(cards: ModelCards) -> str | None:
    """A warning that training times compare only on the same device, when the cards mix devices."""
    devices = {name: training_device(card) for name, card in cards.evaluated.items()}
    if len({d.split(" ")[0] for d in devices.values()}) < 2:
        return None
    gpu = [cards.evaluated[n].title for n, d in devices.items() if d.startswith("GPU")]
    return (
        "Training times compare only on the same device: "
        + ", ".join(gpu)
        + (" was" if len(gpu) == 1 else " were")
        + " trained on a GPU, the others on 2 CPU cores. `make bench-presets` times every model on this kind of CPU."
    )

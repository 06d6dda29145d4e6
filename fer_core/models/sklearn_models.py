"""The scikit-learn family: logistic regression and the random forest, trained in chunks for progress.

Both take the faces' pixels (logistic regression also HOG edge features), report progress through
the shared callback and stop at the next chunk of work when asked. The forest is saved in the packed
format of :mod:`fer_core.models.packed_forest`; scikit-learn and joblib are imported when first used,
so importing the registry stays fast.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from fer_core.models.base import FerModel, ModelSpec, with_flips
from fer_core.models.packed_forest import is_packed_forest, pack_forest, unpack_forest
from fer_core.preprocessing import check_faces, hog_features, prepare
from fer_core.progress import ProgressCallback, ProgressEvent, StopFlag, emit

FEATURE_KINDS = ("pixels", "hog+pixels")


class SklearnModel(FerModel):
    """A scikit-learn estimator on pixel (and HOG) features; subclasses fit it in reportable chunks."""

    estimator_: Any

    def fit(self, x, y, x_val=None, y_val=None, *, callback=None, stop=None):  # type: ignore[override]
        x = check_faces(x)
        if self.params["flip_augment"]:
            x, y = with_flips(x, y)
        features = self.features(x)
        self.estimator_ = self.spec.builder(self.params)
        self._fit_chunks(features, y, callback, stop)
        if x_val is not None and y_val is not None:
            self.history_ = {"val_accuracy": [float((self.predict(x_val) == y_val).mean())]}
        return self

    def _fit_chunks(
        self, features: np.ndarray, y: np.ndarray, callback: ProgressCallback | None, stop: StopFlag | None
    ) -> None:
        raise NotImplementedError

    @property
    def feature_kind(self) -> str:
        """``"pixels"`` or ``"hog+pixels"``: what :meth:`features` computes."""
        return "pixels"

    def features(self, x: np.ndarray) -> np.ndarray:
        """The model's input features for uint8 faces: pixels (and HOG where used), after its preprocessing."""
        features = prepare(x, self.spec.input_kind)  # (n, 2304)
        if self.params["per_image_norm"]:
            # Remove each face's own brightness and contrast: lighting says little about emotion.
            mean = features.mean(axis=1, keepdims=True)
            std = features.std(axis=1, keepdims=True)
            features = (features - mean) / np.maximum(std, 1e-3)
        if self.feature_kind == "hog+pixels":
            features = np.hstack([hog_features(x), features])  # (n, 900 + 2304); pixels stay last
        return features

    def _predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.estimator_.predict_proba(self.features(x))

    def _stored(self) -> Any:
        """What goes into the model file."""
        return self.estimator_

    def save(self, directory: Path) -> Path:
        import joblib

        path = Path(directory) / self.spec.file_name
        joblib.dump(self._stored(), path, compress=("xz", 6))
        return path

    @classmethod
    def load(cls, spec: ModelSpec, params: Mapping[str, Any], directory: Path) -> SklearnModel:
        import joblib

        model = cls(spec, spec.saved_params(params))
        stored = joblib.load(Path(directory) / spec.file_name)
        model.estimator_ = unpack_forest(stored) if is_packed_forest(stored) else stored  # older forests: pickled
        if hasattr(model.estimator_, "n_jobs"):
            model.estimator_.n_jobs = 1  # prediction on a few faces is faster without a process pool
        return model


class LogisticRegressionModel(SklearnModel):
    """Multinomial logistic regression (lbfgs), fitted 25 solver iterations at a time."""

    @property
    def feature_kind(self) -> str:
        kind = self.params["features"]
        if kind not in FEATURE_KINDS:
            raise ValueError(f"Unknown features {kind!r}: use 'pixels' or 'hog+pixels'.")
        return kind

    def _fit_chunks(self, features, y, callback, stop) -> None:  # type: ignore[override]
        from sklearn.exceptions import ConvergenceWarning

        pipeline = self.estimator_
        components = min(int(self.params["pca_components"]), features.shape[0], features.shape[1])
        if "pca" in pipeline.named_steps and components != int(self.params["pca_components"]):
            # A small training subset cannot support more components than it has images.
            self.params["pca_components"] = components
            pipeline.set_params(pca__n_components=components)
        step = "Standardising and fitting PCA" if "pca" in pipeline.named_steps else "Standardising the features"
        emit(callback, ProgressEvent("message", self.name, message=step))
        reduced = pipeline[:-1].fit_transform(features)
        classifier = pipeline[-1]
        total = int(self.params["max_iter"])
        chunk = 25
        done = 0
        while done < total:
            if stop is not None and stop.is_set() and done > 0:
                self.stopped_early_ = True
                break
            step = min(chunk, total - done)
            classifier.set_params(max_iter=step)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                classifier.fit(reduced, y)
            done += step
            emit(
                callback, ProgressEvent("step", self.name, step=done, steps=total, message=f"{done}/{total} iterations")
            )
            if int(np.max(classifier.n_iter_)) < step:  # converged inside this chunk
                emit(callback, ProgressEvent("step", self.name, step=total, steps=total, message="converged"))
                break

    def n_parameters(self) -> int:
        steps = self.estimator_.named_steps
        pca_size = steps["pca"].components_.size if "pca" in steps else 0
        return int(pca_size + steps["clf"].coef_.size + steps["clf"].intercept_.size)


class RandomForestModel(SklearnModel):
    """A random forest on raw pixels, grown a twentieth of its trees at a time (warm start)."""

    def _fit_chunks(self, features, y, callback, stop) -> None:  # type: ignore[override]
        forest = self.estimator_
        total = int(self.params["n_estimators"])
        chunk = max(1, total // 20)
        built = 0
        while built < total:
            if stop is not None and stop.is_set() and built > 0:
                self.stopped_early_ = True
                break
            built = min(total, built + chunk)
            forest.set_params(n_estimators=built)
            forest.fit(features, y)
            emit(callback, ProgressEvent("step", self.name, step=built, steps=total, message=f"{built}/{total} trees"))
        forest.n_jobs = 1  # predicting a few faces is faster without a process pool

    def n_parameters(self) -> int:
        return int(sum(tree.tree_.node_count for tree in self.estimator_.estimators_))

    def _stored(self) -> Any:
        # Stored column-wise: identical predictions in a half to a fifth of a pickled file.
        return pack_forest(self.estimator_)


def build_logreg(params: dict[str, Any]) -> Any:
    """Standardise -> optional PCA -> multinomial logistic regression (warm-started for chunked fitting)."""
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    steps: list[tuple[str, Any]] = [("scale", StandardScaler())]
    if int(params["pca_components"]) > 0:
        components, whiten = int(params["pca_components"]), bool(params["whiten"])
        steps.append(("pca", PCA(n_components=components, whiten=whiten, random_state=params["seed"])))
    steps.append(("clf", LogisticRegression(C=float(params["C"]), warm_start=True, max_iter=25)))
    return Pipeline(steps)


def build_forest(params: dict[str, Any]) -> Any:
    """A warm-started RandomForestClassifier using every core while it trains."""
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(
        n_estimators=int(params["n_estimators"]),
        max_depth=params["max_depth"],
        min_samples_leaf=int(params["min_samples_leaf"]),
        max_features=params["max_features"],
        class_weight=params["class_weight"],
        warm_start=True,
        n_jobs=-1,
        random_state=params["seed"],
    )

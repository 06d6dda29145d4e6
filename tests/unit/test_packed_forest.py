"""The compact forest format: identical trees and predictions, a much smaller file, old files still load."""

from __future__ import annotations

import io
from pathlib import Path

import joblib
import numpy as np
import pytest

from fer_core.artifacts import load_model, write_artifact
from fer_core.cards import ModelCard
from fer_core.models import create_model, params_to_json
from fer_core.models.packed_forest import pack_forest, unpack_forest

Faces = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]

#: Every node field that prediction reads must come back bit for bit.
PREDICTION_FIELDS = ("left_child", "right_child", "feature", "threshold", "missing_go_to_left")


def _fitted_forest(small_faces: Faces, **params) -> tuple:
    x, y, x_val, _ = small_faces
    model = create_model("random_forest", n_estimators=6, max_depth=None, min_samples_leaf=1, **params).fit(x, y)
    return model, model.features(x_val)


def _xz_size(obj) -> int:
    buffer = io.BytesIO()
    joblib.dump(obj, buffer, compress=("xz", 6))
    return buffer.tell()


@pytest.mark.filterwarnings("ignore:class_weight presets")  # warm-start chunks; irrelevant here
@pytest.mark.parametrize(
    "params",
    [{}, {"class_weight": "balanced"}, {"per_image_norm": True}, {"flip_augment": True}],
    ids=["pixels", "class-weights", "per-image-norm", "mirrored"],
)
def test_unpacked_trees_are_identical(small_faces: Faces, params: dict) -> None:
    model, features = _fitted_forest(small_faces, **params)
    forest = model.estimator_
    back = unpack_forest(pack_forest(forest))
    for original, rebuilt in zip(forest.estimators_, back.estimators_, strict=True):
        a, b = original.tree_.__getstate__(), rebuilt.tree_.__getstate__()
        assert a["node_count"] == b["node_count"] and a["max_depth"] == b["max_depth"]
        for name in PREDICTION_FIELDS:
            np.testing.assert_array_equal(a["nodes"][name], b["nodes"][name], err_msg=name)
        leaves = a["nodes"]["left_child"] == -1
        np.testing.assert_array_equal(a["values"][leaves], b["values"][leaves])
    np.testing.assert_array_equal(back.predict_proba(features), forest.predict_proba(features))


def test_weighted_leaf_fractions_are_kept_exactly(small_faces: Faces) -> None:
    """Leaves whose fractions are not whole counts (weighted trees) keep their fractions as they are."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.tree import DecisionTreeClassifier

    x, y, x_val, _ = small_faces
    flat, features = x.reshape(len(x), -1) / 255.0, x_val.reshape(len(x_val), -1) / 255.0
    forest = RandomForestClassifier(2, max_depth=4, random_state=0).fit(flat, y)
    weights = np.random.default_rng(0).uniform(0.3, 3.0, len(y))
    # A weighted tree stores weighted class fractions (a forest here draws its bootstrap by weight instead).
    forest.estimators_.append(DecisionTreeClassifier(max_depth=4, random_state=0).fit(flat, y, sample_weight=weights))
    packed = pack_forest(forest)
    assert packed["leaf_values"].dtype == np.float64
    np.testing.assert_array_equal(unpack_forest(packed).predict_proba(features), forest.predict_proba(features))


def test_where_missing_values_go_is_kept(small_faces: Faces) -> None:
    from sklearn.ensemble import RandomForestClassifier

    x, y, x_val, _ = small_faces
    rng = np.random.default_rng(0)
    flat, features = x.reshape(len(x), -1) / 255.0, x_val.reshape(len(x_val), -1) / 255.0
    flat[rng.random(flat.shape) < 0.2] = np.nan  # scikit-learn's trees learn a side for missing values
    features[rng.random(features.shape) < 0.2] = np.nan
    forest = RandomForestClassifier(4, random_state=0).fit(flat, y)
    assert any(tree.tree_.missing_go_to_left.any() for tree in forest.estimators_)
    rebuilt = unpack_forest(pack_forest(forest))
    np.testing.assert_array_equal(rebuilt.predict_proba(features), forest.predict_proba(features))


def test_packed_file_is_much_smaller(small_faces: Faces) -> None:
    model, _ = _fitted_forest(small_faces)
    assert _xz_size(pack_forest(model.estimator_)) < 0.5 * _xz_size(model.estimator_)


def test_saved_forest_round_trips_through_an_artifact(small_faces: Faces, tmp_path: Path) -> None:
    model, _ = _fitted_forest(small_faces)
    write_artifact(model, ModelCard(name="random_forest", params=params_to_json(model.params)), tmp_path)
    assert joblib.load(tmp_path / "random_forest" / "model.joblib")["format"] == "fer-forest/1"
    loaded, _ = load_model("random_forest", tmp_path)
    x_test = small_faces[2]
    np.testing.assert_array_equal(loaded.predict_proba(x_test), model.predict_proba(x_test))
    assert loaded.n_parameters() == model.n_parameters()


def test_a_pickled_forest_from_before_still_loads(small_faces: Faces, tmp_path: Path) -> None:
    model, _ = _fitted_forest(small_faces)
    write_artifact(model, ModelCard(name="random_forest", params=params_to_json(model.params)), tmp_path)
    joblib.dump(model.estimator_, tmp_path / "random_forest" / "model.joblib")  # the old format: the estimator
    loaded, _ = load_model("random_forest", tmp_path)
    x_test = small_faces[2]
    np.testing.assert_array_equal(loaded.predict_proba(x_test), model.predict_proba(x_test))


def test_unpacking_something_else_is_refused() -> None:
    with pytest.raises(ValueError, match="packed random forest"):
        unpack_forest({"format": "something else"})

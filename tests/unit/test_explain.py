"""Tests for fer_core.explain: every registered model family gets a (48, 48) map in [0, 1], or None."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support.photos import fer_face

from fer_core.artifacts import load_model
from fer_core.cards import ModelCard
from fer_core.constants import IMAGE_SIZE, N_PIXELS
from fer_core.explain import (
    DISPLAY_SIZE,
    enlarge_face,
    explain_face,
    grad_cam,
    gradient_saliency,
    importance_map,
    linear_contribution,
    normalise_map,
    overlay,
)
from fer_core.models import MODEL_NAMES, create_model
from fer_core.preprocessing import HOG_FEATURES, hog_features
from fer_core.views import logreg_pixel_weights

# ``zoo`` comes from tests/conftest.py: every registry model trained small, once per session.


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    return fer_face(0, "happy")


def check_map(heatmap: np.ndarray) -> None:
    assert heatmap.shape == (IMAGE_SIZE, IMAGE_SIZE)
    assert heatmap.dtype == np.float32
    assert np.isfinite(heatmap).all()
    assert heatmap.min() >= 0.0 and heatmap.max() <= 1.0


def untrained(name: str):
    """A registered model with random weights (Keras) or fitted on noise (scikit-learn): enough to explain."""
    model = create_model(name)
    if model.spec.family == "keras":
        model.model_ = model.spec.builder(model.params)
        return model
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (70, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    y = np.arange(70) % 7
    small = {"pca_components": 5, "max_iter": 25} if name == "logreg" else {"n_estimators": 3}
    return create_model(name, **small).fit(x, y)


class TestHelpers:
    def test_normalise(self) -> None:
        out = normalise_map(np.array([[1.0, 3.0], [np.nan, np.inf]]))
        assert out.min() == 0.0 and out.max() == 1.0
        assert not normalise_map(np.full((4, 4), 7.0)).any()  # flat map: nothing stands out

    def test_overlay_and_enlarge(self, face: np.ndarray) -> None:
        heat = np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.float32)
        heat[10:20, 10:20] = 1.0
        out = overlay(face, heat)
        assert out.shape == (DISPLAY_SIZE, DISPLAY_SIZE, 3) and out.dtype == np.uint8
        hot, cold = out[60:70, 60:70].astype(int), out[150:160, 150:160].astype(int)
        # Hot regions are tinted (channels differ); cold regions stay close to grey.
        assert np.ptp(hot, axis=2).mean() > np.ptp(cold, axis=2).mean()
        assert enlarge_face(face).shape == (DISPLAY_SIZE, DISPLAY_SIZE)
        assert overlay(face, np.ones((12, 12)), size=96).shape == (96, 96, 3)  # coarse maps are resized

    def test_overlay_rejects_bad_input(self, face: np.ndarray) -> None:
        with pytest.raises(ValueError, match="opacity"):
            overlay(face, np.zeros((48, 48)), alpha=2.0)
        with pytest.raises(ValueError, match="one face at a time"):
            overlay(np.stack([face, face]), np.zeros((48, 48)))
        with pytest.raises(ValueError, match=r"\(n, 48, 48\)"):
            overlay(np.zeros((10, 10), np.uint8), np.zeros((48, 48)))

    def test_importance_map(self) -> None:
        assert importance_map(None) is None and importance_map(ModelCard(name="random_forest")) is None
        with pytest.raises(ValueError, match="48x48"):
            importance_map(ModelCard(name="random_forest", feature_importance=[[0.1, 0.2]]))


class TestTrainedZoo:
    def test_grad_cam_on_trained_cnn(self, zoo: Path, face: np.ndarray) -> None:
        model, card = load_model("cnn_basic", zoo)
        for class_index in (None, *range(7)):
            cam = grad_cam(model, face, class_index)
            assert cam is not None
            check_map(cam)
            # Either some region speaks for the class (scaled to 1) or none does (all zeros after the ReLU).
            assert cam.max() == pytest.approx(1.0) or not cam.any()
        explanation = explain_face(model, face, card=card)
        assert explanation is not None and explanation.method in {"gradcam", "saliency"}
        check_map(explanation.heatmap)
        assert explanation.heatmap.max() == pytest.approx(1.0)  # an empty Grad-CAM falls back to saliency

    def test_gradient_saliency_on_trained_cnn(self, zoo: Path, face: np.ndarray) -> None:
        model, _ = load_model("cnn_basic", zoo)
        saliency = gradient_saliency(model, face)
        check_map(saliency)
        assert saliency.max() == pytest.approx(1.0)

    def test_forest_importance_from_card(self, zoo: Path, face: np.ndarray) -> None:
        model, card = load_model("random_forest", zoo)
        explanation = explain_face(model, face, card=card)
        assert explanation is not None and explanation.method == "importance"
        check_map(explanation.heatmap)
        np.testing.assert_allclose(explanation.heatmap, importance_map(card))
        assert explain_face(model, face, card=ModelCard(name="random_forest")) is None  # no importances

    def test_keras_only(self, zoo: Path, face: np.ndarray) -> None:
        model, _ = load_model("random_forest", zoo)
        with pytest.raises(ValueError, match="not a trained Keras network"):
            grad_cam(model, face)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_registered_model_is_explained(name: str) -> None:
    """Like the registry tests: each model, built small, gets a valid map (the forest needs its card)."""
    model = untrained(name)
    face = np.random.default_rng(1).integers(0, 256, (IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    card = None
    if name == "random_forest":
        card = ModelCard(name=name, feature_importance=model.estimator_.feature_importances_.reshape(48, 48).tolist())
    explanation = explain_face(model, face, card=card)
    assert explanation is not None
    check_map(explanation.heatmap)
    assert explanation.caption


def test_grad_cam_of_an_ensemble_averages_its_members() -> None:
    """A CNN made of several averaged networks (nested Keras models) still gets a Grad-CAM map."""
    import keras

    model = untrained("cnn_basic")
    keras.utils.set_random_seed(3)
    members = [model.spec.builder(model.params) for _ in range(2)]
    for i, member in enumerate(members):
        member.name = f"member_{i}"
    inputs = keras.layers.Input(shape=(48, 48, 1), name="face")
    model.model_ = keras.Model(inputs, keras.layers.Average()([m(inputs) for m in members]))
    face = np.random.default_rng(2).integers(0, 256, (IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    cam = grad_cam(model, face)
    assert cam is not None
    check_map(cam)
    explanation = explain_face(model, face)
    assert explanation is not None
    check_map(explanation.heatmap)


class TestLinearWeights:
    """The logistic regression's pixel templates really are the pixels' share of its logits."""

    @pytest.mark.parametrize(
        "params",
        [
            {"features": "pixels", "pca_components": 12, "whiten": True},
            {"features": "pixels", "pca_components": 12, "whiten": False},
            {"features": "hog+pixels", "pca_components": 0},
            {"features": "hog+pixels", "pca_components": 12},
        ],
    )
    def test_pixel_weights_give_the_logit_differences(self, params: dict) -> None:
        rng = np.random.default_rng(1)
        x = rng.integers(0, 256, (140, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
        model = create_model("logreg", max_iter=25, **params).fit(x, np.arange(140) % 7)
        pipeline = model.estimator_
        features = model.features(x[:2])  # (2, n): HOG first where used, pixels last
        swapped = features.copy()
        swapped[1, :-N_PIXELS] = features[0, :-N_PIXELS]  # same HOG part, different pixels
        logits = pipeline.decision_function(swapped)
        weights = logreg_pixel_weights(pipeline).reshape(7, N_PIXELS)
        expected = weights @ (swapped[0, -N_PIXELS:] - swapped[1, -N_PIXELS:])
        np.testing.assert_allclose(logits[0] - logits[1], expected, rtol=1e-4, atol=1e-4)
        heat = linear_contribution(model, x[0], 3)
        check_map(heat)

    def test_unknown_features_are_refused(self) -> None:
        model = create_model("logreg", features="sift")
        with pytest.raises(ValueError, match="Unknown features 'sift'"):
            model.fit(np.zeros((14, IMAGE_SIZE, IMAGE_SIZE), np.uint8), np.arange(14) % 7)

    def test_hog_features_see_edges_not_brightness(self) -> None:
        face = np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.uint8)
        face[:, 24:] = 120  # one vertical edge
        brighter = (face.astype(int) + 60).clip(0, 255).astype(np.uint8)
        a, b = hog_features(np.stack([face, brighter]))
        assert a.shape == (HOG_FEATURES,) and a.any()
        np.testing.assert_allclose(a, b, atol=1e-5)  # a uniform brightness change leaves HOG alone

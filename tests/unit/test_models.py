"""Registry-wide model tests (as timm tests every registered model): build small, fit, predict, save, load.

Every entry of ``fer_core.models.REGISTRY`` goes through the same checks; a new model only needs a
tiny parameter set in ``support.data.TINY_PARAMS``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support.data import TINY_PARAMS

from fer_core.artifacts import load_model, write_artifact
from fer_core.cards import ModelCard
from fer_core.constants import EMOTIONS, NUM_CLASSES
from fer_core.errors import ModelNotFoundError
from fer_core.models import MODEL_NAMES, REGISTRY, FerModel, create_model, get_spec, params_to_json
from fer_core.preprocessing import hog_features, prepare
from fer_core.progress import ProgressEvent, StopFlag

Faces = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


class Fitted:
    """One fitted tiny model and the progress events its fit emitted."""

    def __init__(self, model: FerModel, events: list[ProgressEvent], fit_returned: object) -> None:
        self.model, self.events, self.fit_returned = model, events, fit_returned


@pytest.fixture(scope="module")
def fitted(small_faces: Faces):
    """Fit each registry model once per module (on ~200 faces) and hand out the cached result."""
    cache: dict[str, Fitted] = {}

    def get(name: str) -> Fitted:
        if name not in cache:
            x, y, x_val, y_val = small_faces
            events: list[ProgressEvent] = []
            model = create_model(name, **TINY_PARAMS[name])
            returned = model.fit(x, y, x_val, y_val, callback=events.append)
            cache[name] = Fitted(model, events, returned)
        return cache[name]

    return get


def test_every_registered_model_has_tiny_params() -> None:
    assert set(TINY_PARAMS) == set(MODEL_NAMES) == set(REGISTRY)
    assert len(MODEL_NAMES) == 7


@pytest.mark.parametrize("name", MODEL_NAMES)
class TestEveryModel:
    def test_spec_is_consistent(self, name: str) -> None:
        spec = get_spec(name)
        assert spec.name == name and spec.display_name and spec.description
        assert spec.file_name == ("model.keras" if spec.family == "keras" else "model.joblib")
        faces = np.zeros((3, 48, 48), np.uint8)
        assert prepare(faces, spec.input_kind).shape == (3, *spec.input_shape)
        assert "seed" in spec.default_params
        assert set(TINY_PARAMS[name]) <= set(spec.default_params)

    def test_fit_returns_self(self, name: str, fitted) -> None:
        result = fitted(name)
        assert result.fit_returned is result.model

    def test_predict_proba_contract(self, name: str, fitted, small_faces: Faces) -> None:
        model = fitted(name).model
        x_val = small_faces[2]
        proba = model.predict_proba(x_val)
        assert proba.shape == (len(x_val), NUM_CLASSES) and proba.dtype == np.float32
        assert not np.isnan(proba).any()
        assert np.all(proba >= 0.0) and np.all(proba <= 1.0 + 1e-6)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-4)
        np.testing.assert_array_equal(model.predict(x_val), proba.argmax(axis=1))
        assert model.predict_proba(x_val[0]).shape == (1, NUM_CLASSES)  # a single (48, 48) face
        assert model.predict_proba(x_val[:0]).shape == (0, NUM_CLASSES)
        with pytest.raises(ValueError, match=r"Expected faces of shape \(n, 48, 48\)"):
            model.predict_proba(np.zeros((2, 32, 32), np.uint8))

    def test_tta_averages_the_mirror(self, name: str, fitted, small_faces: Faces) -> None:
        model = fitted(name).model
        x = small_faces[2][:16]
        plain, tta = model.predict_proba(x), model.predict_proba(x, tta=True)
        mirrored = model.predict_proba(x[:, :, ::-1])
        assert tta.shape == plain.shape and not np.isnan(tta).any()
        np.testing.assert_allclose(tta, 0.5 * (plain + mirrored), atol=1e-5)
        np.testing.assert_allclose(tta.sum(axis=1), 1.0, atol=1e-4)

    def test_save_load_gives_the_same_predictions(self, name: str, fitted, small_faces: Faces, tmp_path: Path) -> None:
        model = fitted(name).model
        card = ModelCard(name=name, params=params_to_json(model.params))
        folder = write_artifact(model, card, tmp_path)
        assert folder == tmp_path / name
        assert sorted(p.name for p in folder.iterdir()) == sorted(["card.json", model.spec.file_name])
        loaded, loaded_card = load_model(name, tmp_path)
        assert type(loaded) is type(model) and loaded_card.file == model.spec.file_name
        x = small_faces[2]
        np.testing.assert_allclose(loaded.predict_proba(x), model.predict_proba(x), atol=1e-5)
        assert loaded.n_parameters() == model.n_parameters() > 0

    def test_progress_events(self, name: str, fitted) -> None:
        result = fitted(name)
        kinds = {event.kind for event in result.events}
        assert all(event.model == name for event in result.events)
        if result.model.spec.family == "keras":
            assert {"start", "batch", "epoch", "end"} <= kinds
            batches = [e for e in result.events if e.kind == "batch"]
            assert batches[0].batch == 1 and batches[-1].batch == batches[-1].batches
            epochs = [e for e in result.events if e.kind == "epoch"]
            assert [e.epoch for e in epochs] == [1] and epochs[0].fraction == 1.0
            assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(epochs[0].logs)
            assert set(result.model.history_) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
        else:
            steps = [e for e in result.events if e.kind == "step"]
            assert steps, "scikit-learn models must report steps"
            assert [e.step for e in steps] == sorted(e.step for e in steps)
            assert steps[-1].step == steps[-1].steps and steps[-1].fraction == 1.0
            assert "val_accuracy" in result.model.history_

    def test_unknown_parameter(self, name: str) -> None:
        with pytest.raises(ValueError, match=r"Unknown parameter\(s\) for .*: not_a_param\. Valid: "):
            create_model(name, not_a_param=1)


class TestRegistry:
    def test_unknown_model_lists_valid_names(self) -> None:
        expected = "Unknown model 'resnet'. Choose one of: " + ", ".join(MODEL_NAMES)
        with pytest.raises(ModelNotFoundError, match=expected):
            create_model("resnet")

    def test_model_not_found_is_a_value_error(self) -> None:
        with pytest.raises(ValueError):
            get_spec("")

    def test_params_override_defaults(self) -> None:
        model = create_model("random_forest", n_estimators=7)
        assert model.params["n_estimators"] == 7
        assert model.params["max_depth"] == REGISTRY["random_forest"].default_params["max_depth"]

    @pytest.mark.parametrize("name", ["logreg", "mlp"])
    def test_a_card_from_before_hog_features_loads_as_pixels_only(
        self, name: str, small_faces: Faces, tmp_path: Path
    ) -> None:
        x_train, y_train, x_test, _ = small_faces
        model = create_model(name, **{**TINY_PARAMS[name], "features": "pixels"}).fit(x_train, y_train)
        params = params_to_json(model.params)
        del params["features"]  # what a card written before the parameter existed holds
        write_artifact(model, ModelCard(name=name, params=params), tmp_path)
        loaded, _ = load_model(name, tmp_path)
        assert loaded.params["features"] == "pixels"
        np.testing.assert_allclose(loaded.predict_proba(x_test), model.predict_proba(x_test), atol=1e-6)

    def test_explicit_epochs_make_the_cnn_a_single_network(self) -> None:
        assert create_model("cnn", epochs=3).params["ensemble_epochs"] == [3]
        assert create_model("cnn").params["ensemble_epochs"] == list(REGISTRY["cnn"].default_params["ensemble_epochs"])


class TestHogLayer:
    """The MLP's in-network HOG layer: OpenCV's features, in OpenCV's order, and differentiable."""

    def test_matches_opencv_hog(self, small_faces: Faces) -> None:
        from fer_core.models.layers import HogFeatures

        faces = small_faces[0][:32]
        ours = np.asarray(HogFeatures()(faces[..., None].astype(np.float32) / 255.0))
        theirs = hog_features(faces)
        assert ours.shape == theirs.shape == (32, 900)
        # Same layout and scale; values differ a little (OpenCV adds a Gaussian window and interpolation).
        assert np.corrcoef(ours.ravel(), theirs.ravel())[0, 1] > 0.7  # 0.82 on FER2013 faces, 0.77 synthetic
        assert np.corrcoef(ours.ravel(), np.roll(theirs, 36, axis=1).ravel())[0, 1] < 0.5  # shifted: ~0.25

    def test_gradients_reach_the_pixels(self, small_faces: Faces) -> None:
        import tensorflow as tf

        from fer_core.models.layers import HogFeatures

        faces = tf.convert_to_tensor(small_faces[0][:2, ..., None].astype(np.float32) / 255.0)
        with tf.GradientTape() as tape:
            tape.watch(faces)
            total = tf.reduce_sum(HogFeatures()(faces)[:, :36])  # the first block only
        gradient = np.abs(tape.gradient(total, faces).numpy()[0, ..., 0])
        assert np.isfinite(gradient).all()
        assert gradient[:17, :17].sum() > 0 and gradient[20:, 20:].sum() == 0  # the block covers the top-left


class TestKerasTraining:
    def test_cnn_ensemble_composes_its_members(self, small_faces: Faces, tmp_path: Path) -> None:
        x, y, x_val, y_val = small_faces
        params = {**TINY_PARAMS["cnn"], "ensemble_epochs": [1, 1]}
        events: list[ProgressEvent] = []
        model = create_model("cnn", **params).fit(x, y, x_val, y_val, callback=events.append)
        assert model.model_.name == "cnn_ensemble"
        members = [model.model_.get_layer(f"cnn_member_{i}") for i in range(2)]
        assert len(model.member_histories_) == 2
        assert sum(e.kind == "message" and "Ensemble member" in e.message for e in events) == 2
        inputs = prepare(x_val, "image")
        outputs = [np.asarray(member(inputs, training=False)) for member in members]
        proba = model.predict_proba(x_val)
        np.testing.assert_allclose(proba, 0.5 * (outputs[0] + outputs[1]), atol=1e-5)
        write_artifact(model, ModelCard(name="cnn", params=params_to_json(model.params)), tmp_path)
        loaded, _ = load_model("cnn", tmp_path)
        assert loaded.model_.name == "cnn_ensemble"
        np.testing.assert_allclose(loaded.predict_proba(x_val), proba, atol=1e-5)

    def test_stop_flag_set_before_training_stops_after_one_batch(self, small_faces: Faces) -> None:
        x, y, x_val, y_val = small_faces
        stop = StopFlag()
        stop.set()
        events: list[ProgressEvent] = []
        model = create_model("cnn_basic", epochs=5, batch_size=16)
        model.fit(x, y, x_val, y_val, callback=events.append, stop=stop)
        assert model.stopped_early_
        assert [e.batch for e in events if e.kind == "batch"] == [1]  # of ceil(len(x) / 16) batches
        assert len(model.history_["loss"]) == 1  # the interrupted epoch is closed, no more follow
        proba = model.predict_proba(x_val)  # the weights are kept and usable
        assert proba.shape == (len(x_val), NUM_CLASSES) and not np.isnan(proba).any()

    def test_stop_flag_stops_a_forest_after_the_first_chunk(self, small_faces: Faces) -> None:
        x, y, _, _ = small_faces
        stop = StopFlag()
        stop.set()
        model = create_model("random_forest", n_estimators=40, max_depth=4).fit(x, y, stop=stop)
        assert model.stopped_early_ and len(model.estimator_.estimators_) == 2  # one chunk = 40 // 20 trees
        assert model.predict_proba(x[:3]).shape == (3, NUM_CLASSES)

    def test_restore_best_keeps_the_best_epoch(self, small_faces: Faces) -> None:
        x, y, x_val, y_val = small_faces
        model = create_model("mlp", epochs=3, hidden_units=[16], patience=0, learning_rate=0.05)
        model.fit(x, y, x_val, y_val)
        best = max(model.history_["val_accuracy"])
        assert float((model.predict(x_val) == y_val).mean()) == pytest.approx(best, abs=1e-6)


def test_class_order_is_alphabetical() -> None:
    assert list(EMOTIONS) == sorted(EMOTIONS)


def test_a_stopped_run_keeps_its_best_epoch_even_without_restore_best(small_faces: Faces) -> None:
    """The best CNN's recipe keeps its last epoch (restore_best off); pressing Stop must keep the best one."""
    from fer_core.models.keras_models import keras_callbacks

    x, _, _, _ = small_faces
    model = create_model("cnn_basic", epochs=3, restore_best=False, patience=0)
    model.build_network(4)
    model.history_ = {}
    stop = StopFlag()
    (progress,) = keras_callbacks(model, None, stop, 4, has_validation=True)
    progress.set_model(model.model_)
    progress.on_train_begin()
    first = [w.copy() for w in model.model_.get_weights()]
    progress.on_epoch_end(0, {"val_accuracy": 0.5})  # the best epoch
    model.model_.set_weights([w + 1.0 for w in first])  # training moves on ...
    progress.on_epoch_end(1, {"val_accuracy": 0.3})  # ... and gets worse
    stop.set()
    progress.on_train_batch_end(0, {})  # Stop is seen at the next batch
    progress.on_train_end()
    assert model.stopped_early_
    for kept, best in zip(model.model_.get_weights(), first):
        np.testing.assert_array_equal(kept, best)


def test_a_finished_run_without_restore_best_keeps_its_last_epoch(small_faces: Faces) -> None:
    from fer_core.models.keras_models import keras_callbacks

    model = create_model("cnn_basic", epochs=2, restore_best=False, patience=0)
    model.build_network(4)
    model.history_ = {}
    (progress,) = keras_callbacks(model, None, StopFlag(), 4, has_validation=True)
    progress.set_model(model.model_)
    progress.on_train_begin()
    first = [w.copy() for w in model.model_.get_weights()]
    progress.on_epoch_end(0, {"val_accuracy": 0.5})
    last = [w + 1.0 for w in first]
    model.model_.set_weights(last)
    progress.on_epoch_end(1, {"val_accuracy": 0.3})
    progress.on_train_end()
    for kept, expected in zip(model.model_.get_weights(), last):
        np.testing.assert_array_equal(kept, expected)


class TestFastInference:
    """``predict_proba(fast=True)``: a bfloat16 copy of a network where the CPU computes bfloat16 natively."""

    def test_bfloat16_copy_only_where_native(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import keras

        import fer_core.models.keras_models as keras_models

        model = create_model("cnn_basic")
        model.model_ = keras_models.build_in_precision(model.spec.builder, model.params, "float32")
        x = np.random.default_rng(0).integers(0, 256, (8, 48, 48), dtype=np.uint8)
        exact = model.predict_proba(x)
        monkeypatch.setattr(keras_models, "_NATIVE_BF16", False)  # emulated bfloat16 would be slower: float32
        np.testing.assert_array_equal(model.predict_proba(x, fast=True), exact)
        assert getattr(model, "_fast", None) is None
        monkeypatch.setattr(keras_models, "_NATIVE_BF16", True)
        fast = model.predict_proba(x, fast=True)
        assert getattr(model, "_fast", None) is not None  # the copy was built and is kept
        assert fast.dtype == np.float32 and fast.shape == exact.shape
        np.testing.assert_allclose(fast.sum(axis=1), 1.0, atol=1e-3)
        np.testing.assert_allclose(fast, exact, atol=0.05)  # bfloat16 keeps about three digits
        assert not np.array_equal(fast, exact)  # it really computed in bfloat16
        assert keras.mixed_precision.global_policy().name == "float32"  # the global policy is restored
        one = x[:1]
        np.testing.assert_array_equal(model.predict_proba(one, fast=True), model.predict_proba(one))  # float32: faster

    @pytest.mark.parametrize("name", ["mlp", "lstm", "cnn_basic", "cnn"])
    def test_bfloat16_copy_is_safe_while_another_thread_clears_the_session(self, name: str) -> None:
        """Streamlit clears the Keras session after every script run, while a video job may build its copy.

        Building the copy with the network's builder failed here with "The name "conv2d" is used 2 times"
        (a first video analysis on a fresh server, now and then); the copy from the network's own
        configuration reads no global Keras state.
        """
        import threading

        import keras

        import fer_core.models.keras_models as keras_models

        params = {**TINY_PARAMS[name], "ensemble_epochs": [1, 1]} if name == "cnn" else TINY_PARAMS[name]
        model = create_model(name, **params)
        network = keras_models.build_in_precision(model.spec.builder, model.params, "float32")
        reference = keras_models.build_in_precision(model.spec.builder, model.params, "mixed_bfloat16")
        stop = threading.Event()

        def clear_sessions() -> None:
            while not stop.is_set():
                keras.backend.clear_session(free_memory=False)

        clearer = threading.Thread(target=clear_sessions, daemon=True)
        clearer.start()
        try:
            copies = [keras_models.bfloat16_copy(network) for _ in range(3)]
        finally:
            stop.set()
            clearer.join()

        def precisions(net: object) -> list[tuple[str, str]]:
            found: list[tuple[str, str]] = []
            for layer in net.layers:  # type: ignore[attr-defined]
                if hasattr(layer, "layers"):
                    found += precisions(layer)
                elif type(layer).__name__ != "InputLayer":
                    found.append((type(layer).__name__, layer.dtype_policy.name))
            return found

        expected = precisions(reference)  # what the builder makes in mixed bfloat16: float32 softmax outputs
        assert ("Dense", "float32") in expected and ("Dense", "mixed_bfloat16") not in expected[-2:]
        x = np.random.default_rng(1).random((4, *model.spec.input_shape), dtype=np.float32)
        exact = keras.ops.convert_to_numpy(network(x, training=False))
        for copy in copies:
            assert precisions(copy) == expected
            assert [layer.name for layer in copy.layers] == [layer.name for layer in network.layers]
            out = keras.ops.convert_to_numpy(copy(x, training=False)).astype(np.float32)
            np.testing.assert_allclose(out, exact, atol=0.05)

    def test_native_bfloat16_needs_onednn(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import fer_core.models.keras_models as keras_models

        monkeypatch.setattr(keras_models, "_NATIVE_BF16", None)
        monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
        assert keras_models.native_bfloat16() is False

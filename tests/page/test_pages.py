"""Every dashboard page rendered headless with AppTest, with the dataset and without it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from support.data import DATA_DIR, HAS_DATA, NO_DATA_REASON, REPO, TINY_PARAMS

from fer_core.jobs import get_manager
from fer_core.models import REGISTRY
from fer_core.presets import get_preset

PAGES = {
    "home": REPO / "pages" / "0_Home.py",
    "eda": REPO / "pages" / "1_EDA.py",
    "training": REPO / "pages" / "2_Training.py",
    "comparison": REPO / "pages" / "3_Model_comparison.py",
}
#: TensorFlow's import and a first dataset decode take far longer than AppTest's 3-second default.
TIMEOUT = 180


@pytest.fixture(params=["with_data", "no_data"])
def data_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, zoo: Path) -> str:
    """FER_DATA_DIR at the real dataset or at an empty folder; FER_MODELS_DIR at the test zoo."""
    if request.param == "with_data":
        if not HAS_DATA:
            pytest.skip(NO_DATA_REASON)
        monkeypatch.setenv("FER_DATA_DIR", str(DATA_DIR))
    else:
        empty = tmp_path / "no-data"
        empty.mkdir()
        monkeypatch.setenv("FER_DATA_DIR", str(empty))
    monkeypatch.setenv("FER_MODELS_DIR", str(zoo))
    monkeypatch.setenv("FER_RUNS_DIR", str(tmp_path / "runs"))
    return request.param


def run_page(page: str) -> AppTest:
    """Run a page once and check it raised nothing."""
    app = AppTest.from_file(str(PAGES[page]), default_timeout=TIMEOUT).run()
    assert_clean(app)
    return app


def assert_clean(app: AppTest) -> None:
    assert not app.exception, [e.message for e in app.exception]


def texts(app: AppTest) -> str:
    """All markdown, captions and alerts of a run, joined."""
    parts = [m.value for m in app.markdown] + [c.value for c in app.caption]
    parts += [a.value for kind in (app.success, app.warning, app.info, app.error) for a in kind]
    return "\n".join(parts)


def plotly_charts(app: AppTest) -> list:
    return app.get("plotly_chart")


class TestHome:
    def test_renders(self, data_mode: str) -> None:
        app = run_page("home")
        assert app.title[0].value.endswith("FER Studio")
        board = app.dataframe[0].value
        assert len(board) == len(TINY_PARAMS)  # one row per trained model of the test zoo
        if data_mode == "with_data":
            assert "FER2013 found" in app.success[0].value
            assert app.metric[0].value == "28,709"
        else:
            assert "No FER2013 dataset found" in app.warning[0].value
            assert "FER_DATA_DIR" in texts(app)
            assert app.get("file_uploader"), "the zip uploader is missing"


class TestEda:
    def test_renders(self, data_mode: str) -> None:
        app = run_page("eda")
        assert len(plotly_charts(app)) >= 5  # distribution, histogram, brightness, mean faces, drift
        assert "imbalance" in texts(app)
        if data_mode == "with_data":
            assert len(app.get("image")) >= 1
            assert app.selectbox(key="grid_emotion").value == "all"
        else:
            assert "needs the dataset" in texts(app)
            assert not app.get("image")

    def test_filters_and_seed(self, data_mode: str) -> None:
        if data_mode == "no_data":
            pytest.skip("the sample grid only exists with the dataset")
        app = run_page("eda")
        app.selectbox(key="grid_emotion").set_value("disgust").run()
        assert_clean(app)
        app.number_input(key="grid_seed").set_value(7).run()
        assert_clean(app)
        assert "Seed 7" in texts(app)
        app.button[0].click().run()  # reshuffle
        assert_clean(app)


class TestTraining:
    def test_controls(self, data_mode: str) -> None:
        app = run_page("training")
        assert app.selectbox(key="model").value == "cnn_basic"
        assert app.radio(key="cnn_basic_preset").value == "lesson"  # a preset that fits a lesson, by default
        assert "7 epochs on 24,000 images" in texts(app)  # what the preset trains is said
        assert any("Expected duration here" in i.value or "not known yet" in i.value for i in app.info)
        app.radio(key="cnn_basic_preset").set_value("custom").run()
        assert_clean(app)
        assert app.number_input(key="cnn_basic_epochs").value == 30  # the registry default
        start = app.button(key="start")
        assert start.disabled == (data_mode == "no_data")
        app.selectbox(key="model").set_value("random_forest").run()
        app.radio(key="random_forest_preset").set_value("custom").run()
        assert_clean(app)
        forest = REGISTRY["random_forest"].default_params
        assert app.number_input(key="rf_trees").value == forest["n_estimators"]
        assert app.number_input(key="rf_depth").value == (forest["max_depth"] or 0)  # 0 stands for no limit
        app.selectbox(key="model").set_value("mlp").run()
        app.radio(key="mlp_preset").set_value("custom").run()
        assert_clean(app)
        assert app.toggle(key="mlp_hog").value is (REGISTRY["mlp"].default_params["features"] == "hog+pixels")
        app.selectbox(key="model").set_value("logreg").run()
        app.radio(key="logreg_preset").set_value("custom").run()
        assert app.number_input(key="lr_pca").value == REGISTRY["logreg"].default_params["pca_components"]
        assert app.toggle(key="lr_hog").value is True  # HOG features by default
        app.selectbox(key="model").set_value("cnn_ferplus").run()
        app.radio(key="cnn_ferplus_preset").set_value("custom").run()
        assert_clean(app)
        assert app.radio(key="cnn_ferplus_labels").value == "ferplus"  # FER+ votes by default, FER2013 a click away
        assert "tilt" in app.toggle(key="cnn_ferplus_augment").label  # photo-like augmentation, named
        assert "Barsoum" in app.radio(key="cnn_ferplus_labels").help  # FER+ credited where it is offered

    def test_lesson_preset_and_the_six_queue(self, data_mode: str, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
        if data_mode == "no_data":
            pytest.skip("training needs the dataset")
        manager = get_manager()
        assert manager.wait(300), "an earlier job is still running"
        monkeypatch.setattr(manager, "_runs_dir", tmp_path / "runs")
        app = run_page("training")
        app.selectbox(key="model").set_value("mlp").run()
        assert app.radio(key="mlp_preset").value == "lesson"
        app.button(key="start").click().run()
        assert_clean(app)
        state = manager.snapshot()
        lesson = get_preset("mlp", "lesson")
        assert state.model == "mlp" and state.preset == "lesson" and state.limit == lesson.limit
        assert state.params == lesson.params
        manager.stop(manager._record.session)  # the page's own tab may stop it
        assert manager.wait(300)
        # "Train all six": the six lesson presets, one after another, into one folder.
        app.button(key="six").click().run()
        assert_clean(app)
        folder, waiting = manager.queue_state()
        assert manager.snapshot().model == "logreg" and manager.snapshot().preset == "lesson"
        assert waiting == ["random_forest", "mlp", "lstm", "cnn_basic", "cnn"]
        assert folder is not None and folder.parent == tmp_path / "runs"
        app.run()
        assert "Next in the queue: Random forest" in texts(app)
        manager.stop(manager._record.session)  # Stop ends the queue
        assert manager.wait(300)
        assert manager.queue_state()[1] == [] and manager.snapshot().model == "logreg"

    def test_train_stop_busy_and_install(
        self, data_mode: str, zoo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        if data_mode == "no_data":
            pytest.skip("training needs the dataset")
        models_dir = tmp_path / "models"
        shutil.copytree(zoo, models_dir)
        monkeypatch.setenv("FER_MODELS_DIR", str(models_dir))
        manager = get_manager()
        assert manager.wait(300), "an earlier job is still running"
        app = run_page("training")
        app.radio(key="cnn_basic_preset").set_value("custom").run()
        app.number_input(key="cnn_basic_limit").set_value(500)
        app.number_input(key="cnn_basic_epochs").set_value(1)
        app.button(key="start").click().run()
        assert_clean(app)
        state = manager.snapshot()
        assert state is not None and state.model == "cnn_basic" and state.limit == 500
        app.button(key="start").click().run()  # a second start while the first runs
        assert_clean(app)
        assert any("Only one training job" in w.value for w in app.warning) or not manager.snapshot().active
        assert manager.wait(300), "training did not finish in 5 minutes"
        state = manager.snapshot()
        assert state.status == "done", state.error
        assert len(state.history["val_accuracy"]) == 1
        app.run()
        assert_clean(app)
        assert "Finished training Basic CNN" in app.success[0].value
        assert len(plotly_charts(app)) >= 2  # curves and confusion matrices
        # Another browser tab (a student) sees the run but can neither install nor stop it.
        other = run_page("training")
        assert not [b for b in other.button if b.key == "install"]
        assert any("only the browser tab that started it can install it" in c.value for c in other.caption)
        before = (models_dir / "cnn_basic" / "card.json").read_text()
        concerns = [w.value for w in app.warning if "below always answering" in w.value or "worse than" in w.value]
        if concerns:  # a 1-epoch run is usually worse: installing needs an explicit confirmation
            assert app.button(key="install").disabled
            app.checkbox(key="install_confirm").check().run()
        app.button(key="install").click().run()
        assert_clean(app)
        card = (models_dir / "cnn_basic" / "card.json").read_text()
        assert '"n_train": 400' in card  # 500 images minus the 20% validation split
        kept = list((models_dir / ".versions" / "cnn_basic").iterdir())
        assert len(kept) == 1 and (kept[0] / "card.json").read_text() == before  # the replaced model is kept
        app.run()  # the versions list is drawn above the result: it shows the kept model from the next run on
        app.button(key="restore-cnn_basic").click().run()
        assert_clean(app)
        assert (models_dir / "cnn_basic" / "card.json").read_text() == before  # and restored


class TestComparison:
    def test_renders(self, data_mode: str) -> None:
        app = run_page("comparison")
        table = app.dataframe[0].value
        assert len(table) == len(TINY_PARAMS)
        assert {"Accuracy", "Macro-F1", "Weighted-F1", "Recall disgust", "ms / image"} <= set(table.columns)
        assert len(plotly_charts(app)) >= 7
        assert "most accurate model" in texts(app)
        if data_mode == "with_data":
            assert app.selectbox(key="mis_true").value in texts(app) or app.get("image")
        else:
            assert "needs the dataset" in texts(app)

    def test_a_lesson_run_shown_instead_of_the_installed_models(self, data_mode: str, zoo: Path,
                                                                 tmp_path: Path) -> None:  # fmt: skip
        folder = tmp_path / "runs" / "20261203-101500-lesson"  # as "Train all six" writes them
        for name in ("logreg", "mlp"):
            shutil.copytree(zoo / name, folder / name)
        app = run_page("comparison")
        assert app.radio(key="cards_source").value == "installed"
        assert len(app.dataframe[0].value) == len(TINY_PARAMS)
        app.radio(key="cards_source").set_value(str(folder)).run()
        assert_clean(app)
        table = app.dataframe[0].value
        assert list(table["Model"]) == ["Logistic regression", "Dense MLP"]
        assert "Device" in table.columns
        assert "They are not installed" in texts(app)
        assert "The lesson run of 2026-12-03 10:15" in app.radio(key="cards_source").options[1]

    def test_counts_toggle_and_pairs(self, data_mode: str) -> None:
        app = run_page("comparison")
        app.radio(key="cm_norm").set_value("counts").run()
        assert_clean(app)
        app.selectbox(key="cm_b").set_value("random_forest").run()
        assert_clean(app)
        if data_mode == "with_data":
            app.selectbox(key="mis_true").set_value("fear")
            app.selectbox(key="mis_pred").set_value("sad").run()
            assert_clean(app)


def test_entry_point_routes_to_home(monkeypatch: pytest.MonkeyPatch, zoo: Path) -> None:
    """``streamlit run streamlit_app.py`` opens on Home, with every page in the sidebar under its name."""
    monkeypatch.setenv("FER_MODELS_DIR", str(zoo))
    app = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=TIMEOUT).run()
    assert not app.exception
    assert any("FER Studio" in title.value for title in app.title)


def test_comparison_charts_the_features_lesson_from_the_shipped_models(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FER_MODELS_DIR", str(REPO / "artifacts" / "models"))
    monkeypatch.setenv("FER_DATA_DIR", str(REPO / "no-such-dataset"))
    from fer_core import views
    from fer_core.artifacts import list_cards
    from fer_core.views import features_lesson, features_note

    app = run_page("comparison")
    assert "What hand-made features buy" in [h.value for h in app.header]
    lesson = features_lesson(list_cards(REPO / "artifacts" / "models"))
    assert len(lesson) == 4 and features_note(lesson) in texts(app)
    # The FER+ column and its credited note come from the shipped cards' ferplus_test.
    cards = list_cards(REPO / "artifacts" / "models")
    note = views.ferplus_note(cards)
    assert note is not None and "6,721 test faces" in note and "MIT licence" in note and note in texts(app)
    # Reliability diagrams and the calibration table from the cards' calibration.
    assert "Can you trust the percentages?" in [h.value for h in app.header]
    assert views.calibration_note(views.calibration_rows(cards)) in texts(app)
    table = app.dataframe[0].value
    assert "FER+ majority" in table.columns

"""Streamlit helpers shared by the pages, and every cached singleton of the server.

Cached with ``st.cache_resource`` (one per server, shared by all sessions, so thread-safe): the
dataset, each trained model and the face detector. Cached with ``st.cache_data``: the model cards
(keyed by their files' modification times, so an installed model shows at once) and the EDA summary.
Compute lives in ``fer_core``; this module caches it and draws small recurring pieces.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from fer_core.artifacts import default_models_dir, list_cards, load_model
from fer_core.cards import ModelCard, ModelCards
from fer_core.constants import DATA_DIR_ENV, EDA_SUMMARY_PATH, RUNS_DIR
from fer_core.data import FerDataset, dataset_available, load_dataset, resolve_data_dir
from fer_core.errors import FerError
from fer_core.faces import DEFAULT_DETECTOR, Detector, make_detector
from fer_core.live import LiveProcessor
from fer_core.models import FerModel, get_spec
from fer_core.quiz import QuizBank
from fer_core.summary import summarize
from fer_core.views import logreg_pixel_weights, not_compared, pixel_weight_share, train_command
from fer_ui.figures import style
from fer_ui.navigation import ensure_navigation
from fer_ui.process import prepare_process

if TYPE_CHECKING:
    from fer_core.classroom import Classroom


def setup_page(title: str, icon: str) -> None:
    """Wide layout and a page title; call first on every page (it also keeps page routing right)."""
    ensure_navigation()
    st.set_page_config(page_title=f"{title} · FER Studio", page_icon=icon, layout="wide")


def chart(fig: go.Figure, height: int = 420, title: str | None = None, **kwargs: Any) -> Any:
    """Draw a styled Plotly figure across the container width (``kwargs`` go to ``st.plotly_chart``)."""
    style(fig, height)
    if title:
        fig.update_layout(title={"text": title, "x": 0.0, "xanchor": "left"}, margin={"t": 70})
    return st.plotly_chart(fig, theme=None, **kwargs)


# --------------------------------------------------------------------------------------------
# Cached singletons
# --------------------------------------------------------------------------------------------


@st.cache_data(show_spinner=False)
def load_summary(path: str = str(EDA_SUMMARY_PATH)) -> dict[str, Any] | None:
    """The shipped dataset summary (``artifacts/eda.json``), or None if it is missing."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return None


# A leading underscore keeps an argument out of Streamlit's cache key: the fingerprint (or the model
# file's identity) stands for it, and the big object itself is never hashed.
@st.cache_data(show_spinner="Computing statistics of this copy of the dataset…")
def _fresh_summary(fingerprint: str, _dataset: FerDataset) -> dict[str, Any]:
    return summarize(_dataset)


def get_summary(dataset: FerDataset | None) -> dict[str, Any] | None:
    """The EDA summary of ``dataset``: the shipped one when it describes this copy, else computed once."""
    summary = load_summary()
    if dataset is not None and (summary is None or summary.get("fingerprint") != dataset.fingerprint):
        summary = _fresh_summary(dataset.fingerprint, dataset)
    return summary


@st.cache_resource(show_spinner="Loading FER2013 (decoded once, then cached)…")
def _load_dataset(root: str) -> FerDataset:
    return load_dataset(root)


def get_dataset() -> tuple[FerDataset | None, str | None]:
    """The dataset at ``$FER_DATA_DIR`` (cached, shared by sessions), or (None, why not)."""
    root = resolve_data_dir()
    if not dataset_available(root):
        return None, f"No FER2013 dataset found at `{root}`."
    try:
        return _load_dataset(str(root)), None
    except FerError as exc:
        return None, str(exc)


def clear_dataset_cache() -> None:
    """Forget the cached dataset (after a new one was installed)."""
    _load_dataset.clear()


def _cards_signature(models_dir: Path) -> tuple[tuple[str, float], ...]:
    """Modification times of every card, so a newly installed model invalidates the cache."""
    if not models_dir.is_dir():
        return ()
    return tuple(sorted((p.parent.name, p.stat().st_mtime) for p in models_dir.glob("*/card.json")))


@st.cache_data(show_spinner=False)
def _cards(models_dir: str, signature: tuple[tuple[str, float], ...]) -> ModelCards:
    return list_cards(Path(models_dir))


def get_cards() -> ModelCards:
    """Every registered model's card (or why it is unavailable), cached per install."""
    models_dir = default_models_dir()
    return _cards(str(models_dir), _cards_signature(models_dir))


@st.cache_resource(show_spinner="Loading the model…")
def _model(name: str, models_dir: str, created: str, calibration: tuple[float, float]) -> FerModel:
    return load_model(name, Path(models_dir))[0]


def get_model(name: str, card: ModelCard) -> FerModel:
    """A trained model, loaded once per server (keyed by its card's creation time and calibration)."""
    return _model(name, str(default_models_dir()), card.created, (card.temperature, card.not_sure_below))


@st.cache_data(show_spinner="Predicting the test split…")
def _test_split_probabilities(
    model_key: tuple[str, str, str, bool, float], fingerprint: str, _trained: FerModel, _dataset: FerDataset
) -> np.ndarray:
    return _trained.predict_proba(_dataset.x_test, tta=model_key[3])


def test_split_probabilities(name: str, card: ModelCard, dataset: FerDataset) -> np.ndarray:
    """A model's class probabilities ``(n_test, 7)`` on the test split, once per model and dataset.

    With flip TTA where the card's numbers use it, so the mistakes gallery agrees with the confusion
    matrix it is picked from.
    """
    model_key = (name, str(default_models_dir()), card.created, card.headline_tta, card.temperature)
    return _test_split_probabilities(model_key, dataset.fingerprint, get_model(name, card), dataset)


@st.cache_data(show_spinner=False)
def _logreg_weights(models_dir: str, created: str, _trained: FerModel) -> np.ndarray:
    return logreg_pixel_weights(_trained.estimator_)


def logreg_weights(card: ModelCard) -> np.ndarray:
    """Pixel weights ``(7, 48, 48)`` of the installed logistic regression (once per installed model)."""
    return _logreg_weights(str(default_models_dir()), card.created, get_model("logreg", card))


@st.cache_data(show_spinner=False)
def _logreg_pixel_share(models_dir: str, created: str, _trained: FerModel) -> float:
    return pixel_weight_share(_trained.estimator_)


def logreg_pixel_share(card: ModelCard) -> float | None:
    """The pixels' share of the installed logistic regression's weight (the rest is on HOG features)."""
    try:
        return _logreg_pixel_share(str(default_models_dir()), card.created, get_model("logreg", card))
    except (FerError, AttributeError, ValueError):
        return None


@st.cache_resource(show_spinner=False)
def get_detector(name: str = DEFAULT_DETECTOR) -> Detector:
    """The server's one face detector of each kind (thread-safe; see :func:`fer_core.faces.make_detector`)."""
    return make_detector(name)


#: A SQLAlchemy URL for the class database (tests, scratch servers); else Streamlit's secrets
#: ``[connections.classroom] url = ...``; else SQLite in the git-ignored ``runs/`` folder.
CLASSROOM_URL_ENV = "FER_CLASSROOM_URL"


@st.cache_resource(show_spinner="Loading the quiz faces and the FER+ votes…")
def _quiz_bank(root: str) -> QuizBank:
    return QuizBank.load(root)


def get_quiz_bank() -> tuple[QuizBank | None, str | None]:
    """The quiz's faces and FER+ votes (cached, shared by sessions), or (None, why not)."""
    root = resolve_data_dir()
    if not dataset_available(root):
        return None, f"The quiz shows FER2013's test faces, and no FER2013 dataset was found at `{root}`."
    try:
        return _quiz_bank(str(root)), None
    except FerError as exc:
        return None, str(exc)


@st.cache_data(show_spinner=False, max_entries=64)
def _quiz_probabilities(name: str, models_dir: str, created: str, faces: tuple[int, ...]) -> np.ndarray:
    card = get_cards().cards[name]
    bank, why = get_quiz_bank()
    if bank is None:
        raise FerError(why or "The quiz faces are not available.")
    return get_model(name, card).predict_proba(bank.faces[list(faces)], tta=card.headline_tta)


def quiz_probabilities(name: str, card: ModelCard, faces: Any) -> np.ndarray:
    """A model's probabilities ``(k, 7)`` for quiz-bank faces (cached per model and set of faces)."""
    return _quiz_probabilities(name, str(default_models_dir()), card.created, tuple(int(f) for f in faces))


def _secret(section: str, key: str) -> Any:
    try:
        return st.secrets.get(section, {}).get(key)
    except Exception:  # noqa: BLE001 - no secrets file at all is the usual case
        return None


@st.cache_resource(show_spinner=False)
def _classroom(url: str, password: str | None) -> Classroom:
    from fer_core.classroom import Classroom, sqlite_pragmas  # SQLAlchemy only where classes are used

    connection = st.connection("classroom", type="sql", url=url) if url else st.connection("classroom", type="sql")
    return Classroom(sqlite_pragmas(connection.engine), teacher_password=password)


def get_classroom() -> Classroom:
    """The server's class store, through ``st.connection("classroom", type="sql")`` (SQLAlchemy)."""
    url = os.environ.get(CLASSROOM_URL_ENV, "")
    if not url and not _secret("connections", "classroom"):
        RUNS_DIR.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{RUNS_DIR / 'classroom.sqlite'}"
    return _classroom(url, _secret("classroom", "teacher_password"))


# --------------------------------------------------------------------------------------------
# Recurring pieces
# --------------------------------------------------------------------------------------------


def dataset_help() -> None:
    """How to get FER2013 and point FER Studio at it."""
    root = resolve_data_dir()
    st.markdown(
        f"""
**How to add the dataset**

1. Download FER2013 from Kaggle — either the image-folder version
   ([msambare/fer2013](https://www.kaggle.com/datasets/msambare/fer2013): `train/` and `test/`, one
   sub-folder per emotion) or the original challenge CSV (`fer2013.csv` with `emotion,pixels,Usage`).
2. Unpack it into `{root}`, **or** set the environment variable `{DATA_DIR_ENV}` to the folder
   (or the `.zip` / `.csv`) before starting the app: `{DATA_DIR_ENV}=/path/to/fer2013 streamlit run streamlit_app.py`.
3. Or upload the Kaggle zip on the **Home** page; it is checked, then unpacked into the data folder.
"""
    )


def not_trained_card(name: str, reason: str | None = None) -> None:
    """A clear "not trained yet" card with the command that trains the model."""
    with st.container(border=True):
        st.markdown(f"**{get_spec(name).display_name}** — not trained yet")
        if reason:
            st.caption(reason)
        st.code(train_command(name), language="bash")


def missing_models(cards: ModelCards, *, heading: str | None = None, compared: bool = False) -> None:
    """A "not trained yet" card for every unusable model (with ``compared``: every one not compared), three a row."""
    missing = not_compared(cards) if compared else cards.missing
    if not missing:
        return
    if heading:
        st.subheader(heading)
    columns = st.columns(min(3, len(missing)))
    for i, (name, reason) in enumerate(missing.items()):
        with columns[i % len(columns)]:
            not_trained_card(name, reason)


def webcam_stream(key: str, processor: LiveProcessor) -> Any:
    """streamlit-webrtc's camera stream, each frame sent through ``processor``; returns its context.

    streamlit-webrtc is imported here, after the process set-up, because importing it loads libsrtp
    (see :mod:`fer_ui.process`); ``prepare_process`` is a no-op when ``streamlit_app.py`` already ran it.
    """
    prepare_process()
    from streamlit_webrtc import WebRtcMode, webrtc_streamer

    return webrtc_streamer(
        key=key,
        mode=WebRtcMode.SENDRECV,
        rtc_configuration={"iceServers": []},  # localhost only: no STUN/TURN look-ups
        video_frame_callback=processor,
        media_stream_constraints={"video": True, "audio": False},
        async_processing=True,
    )


def session_id() -> str:
    """An id for this browser tab, kept in its session state (who started a training job, for example)."""
    import uuid

    return st.session_state.setdefault("_fer_tab_id", uuid.uuid4().hex)


def responsible_use_link() -> None:
    """One line linking the Responsible use page (a relative link: works behind any base URL)."""
    st.markdown(
        "⚖️ [Responsible use: what emotion recognition can and cannot tell, and where the law forbids it]"
        "(Responsible_use)"
    )


def data_dir_note() -> str:
    """Where the app looks for the dataset, for captions."""
    env = os.environ.get(DATA_DIR_ENV)
    return f"`{DATA_DIR_ENV}` = `{env}`" if env else f"`{resolve_data_dir()}` (set `{DATA_DIR_ENV}` to change)"


def machine_factor(version: str, busy: bool) -> float:
    """How much longer training takes on this computer than on the presets' benchmark machine.

    A short timed check, repeated at most hourly and whenever the benchmark's record (``version``)
    changes; never while a run trains (it would time the run, not the computer): the last value, or 1.
    """
    if busy:
        return float(st.session_state.get("_machine_factor", 1.0))
    factor = _machine_factor(version)
    st.session_state["_machine_factor"] = factor
    return factor


@st.cache_data(ttl=3600, show_spinner=False)
def _machine_factor(version: str) -> float:
    from fer_core.presets import machine_factor as measure

    return measure()

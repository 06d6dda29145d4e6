"""Streamlit helpers shared by the dashboard pages: page setup, cached loading and common widgets.

Compute lives in ``fer_core``; this module only caches it and draws small recurring pieces.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from fer_core.live import preload_srtp

# Bind WebRTC's libsrtp before anything can load TensorFlow (see preload_srtp): a server whose
# pages load Keras models first would otherwise crash when the live webcam starts.
preload_srtp()

from fer_core.artifacts import default_models_dir, list_cards
from fer_core.constants import DATA_DIR_ENV, EDA_SUMMARY_PATH
from fer_core.dashboard import train_command
from fer_core.data import FerDataset, dataset_available, load_dataset, resolve_data_dir
from fer_core.errors import FerError

FONT_SIZE = 16  # projector-readable


def setup_page(title: str, icon: str) -> None:
    """Wide layout and a page title; call first on every page."""
    st.set_page_config(page_title=f"{title} · FER Studio", page_icon=icon, layout="wide")


def style(fig: go.Figure, height: int = 420, **layout: Any) -> go.Figure:
    """House style for every Plotly chart: white template, large fonts, tight margins."""
    fig.update_layout(
        template="plotly_white",
        font={"size": FONT_SIZE},
        height=height,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        legend={"title": None},
        **layout,
    )
    return fig


def chart(fig: go.Figure, height: int = 420, title: str | None = None, **kwargs: Any) -> Any:
    """Draw a styled Plotly figure across the container width (``kwargs`` go to ``st.plotly_chart``)."""
    style(fig, height)
    if title:
        fig.update_layout(title={"text": title, "x": 0.0, "xanchor": "left"}, margin={"t": 70})
    return st.plotly_chart(fig, theme=None, **kwargs)


def heatmap(
    z: np.ndarray,
    *,
    colorscale: str = "gray",
    zmin: float | None = None,
    zmax: float | None = None,
    showscale: bool = False,
    **trace: Any,
) -> go.Heatmap:
    """A square, top-down 48x48 image heatmap trace."""
    return go.Heatmap(z=z, colorscale=colorscale, zmin=zmin, zmax=zmax, showscale=showscale, **trace)


def image_axes(fig: go.Figure) -> go.Figure:
    """Hide axes, flip y so row 0 is on top, and keep pixels square."""
    fig.update_xaxes(visible=False, constrain="domain")
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x", constrain="domain")
    return fig


@st.cache_data(show_spinner=False)
def load_summary(path: str = str(EDA_SUMMARY_PATH)) -> dict[str, Any] | None:
    """The shipped dataset summary (``artifacts/eda.json``), or None if it is missing."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return None


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
def _cards(models_dir: str, signature: tuple[tuple[str, float], ...]) -> dict[str, dict[str, Any]]:
    return list_cards(Path(models_dir))


def get_cards() -> dict[str, dict[str, Any]]:
    """Cards of every registered model (``{"error": ...}`` for untrained ones), cached per install."""
    models_dir = default_models_dir()
    return _cards(str(models_dir), _cards_signature(models_dir))


@st.cache_resource(show_spinner="Loading the model…")
def _model(name: str, models_dir: str, created: str) -> Any:
    from fer_core.artifacts import load_model

    return load_model(name, Path(models_dir))[0]


def get_model(name: str, card: dict[str, Any]) -> Any:
    """A trained model, loaded once per server (keyed by its card's creation time)."""
    return _model(name, str(default_models_dir()), str(card.get("created")))


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


def not_trained_card(name: str, display_name: str, reason: str | None = None) -> None:
    """A clear "not trained yet" card with the command that trains the model."""
    with st.container(border=True):
        st.markdown(f"**{display_name}** — not trained yet")
        if reason:
            st.caption(reason)
        st.code(train_command(name), language="bash")


def data_dir_note() -> str:
    """Where the app looks for the dataset, for captions."""
    env = os.environ.get(DATA_DIR_ENV)
    return f"`{DATA_DIR_ENV}` = `{env}`" if env else f"`{resolve_data_dir()}` (set `{DATA_DIR_ENV}` to change)"


def confusion_figure(
    matrix: np.ndarray, *, normalised: bool, colorscale: str = "Blues", zmid: float | None = None
) -> go.Figure:
    """A labelled 7x7 confusion-matrix heatmap (rows = true emotion, columns = predicted)."""
    from fer_core.constants import EMOTIONS

    text = np.vectorize(lambda v: f"{v:.0%}" if normalised else f"{v:.0f}")(matrix)
    fig = go.Figure(
        go.Heatmap(
            z=matrix,
            x=list(EMOTIONS),
            y=list(EMOTIONS),
            text=text,
            texttemplate="%{text}",
            colorscale=colorscale,
            zmid=zmid,
            hovertemplate="true %{y} → predicted %{x}: %{text}<extra></extra>",
            colorbar={"tickformat": ".0%" if normalised else ""},
        )
    )
    fig.update_yaxes(autorange="reversed", title="true emotion")
    fig.update_xaxes(title="predicted emotion", side="bottom")
    return fig


def curves_figure(frame: Any, *, color: str = "split", dash: str | None = None) -> go.Figure:
    """Loss and accuracy side by side from a long (epoch, metric, split, value) table."""
    import plotly.express as px

    fig = px.line(
        frame,
        x="epoch",
        y="value",
        color=color,
        line_dash=dash,
        facet_col="metric",
        markers=True,
        category_orders={"metric": ["loss", "accuracy"], "split": ["train", "validation"]},
    )
    fig.update_yaxes(matches=None, showticklabels=True, title=None)
    fig.for_each_annotation(lambda a: a.update(text=a.text.split("=")[-1]))
    fig.update_xaxes(dtick=1 if frame["epoch"].max() <= 12 else None)
    return fig


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

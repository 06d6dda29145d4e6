"""EDA: class balance, sample faces, pixel intensities, mean faces, data quality and train/test drift.

Every statistic comes from the shipped summary (``artifacts/eda.json``) or, when the dataset at
hand differs from it, from a fresh (cached) summary; only the sample grid needs the images.
"""

from __future__ import annotations

import numpy as np
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from fer_core import views as dash
from fer_core.constants import EMOTIONS
from fer_ui import figures, ui

ui.setup_page("EDA", "📊")
st.title("Exploring FER2013")


def reshuffle() -> None:
    """Draw a new random seed for the sample grid (before the seed widget is drawn again)."""
    st.session_state.grid_seed = int(np.random.default_rng().integers(1_000_000))


dataset, problem = ui.get_dataset()
summary = ui.get_summary(dataset)
if summary is None:
    st.error("No dataset and no shipped summary (`artifacts/eda.json`): there is nothing to explore yet.")
    ui.dataset_help()
    st.stop()

st.markdown(dash.distribution_note(summary))
if dataset is None:
    st.info(f"{problem} Statistics below come from the summary shipped in `artifacts/eda.json`.")

# ---- class distribution ----------------------------------------------------------------------
st.header("Class distribution")
distribution = dash.class_distribution(summary)
as_percent = st.toggle("Show percentages of each split", value=False)
fig = px.bar(
    distribution,
    x="emotion",
    y="percent" if as_percent else "count",
    color="split",
    barmode="group",
    text=distribution["percent"].map("{:.1f}%".format) if as_percent else "count",
    category_orders={"emotion": list(EMOTIONS)},
    color_discrete_map={"train": "#1f77b4", "test": "#ff7f0e"},
)
fig.update_traces(textposition="outside")
ui.chart(fig, title=f"Images per emotion — imbalance ratio {dash.imbalance_ratio(summary):.1f} : 1 (train)")
cols = st.columns(3)
cols[0].metric("Training images", f"{summary['totals']['train']:,}")
cols[1].metric("Test images", f"{summary['totals']['test']:,}")
cols[2].metric("Largest / smallest class", f"{dash.imbalance_ratio(summary):.1f} : 1")

# ---- sample grid -----------------------------------------------------------------------------
st.header("Sample faces")
if dataset is None:
    st.warning("The sample grid shows real images, so it needs the dataset itself.")
    ui.dataset_help()
else:
    c1, c2, c3, c4 = st.columns([2, 1, 1, 1])
    emotion = c1.selectbox("Emotion", ["all", *EMOTIONS], key="grid_emotion")
    split = c2.selectbox("Split", ["train", "test"], key="grid_split")
    side = c3.selectbox("Grid", [3, 4, 5, 6, 8], index=2, format_func=lambda n: f"{n} × {n}", key="grid_side")
    if "grid_seed" not in st.session_state:
        st.session_state.grid_seed = 0
    c4.number_input("Seed", min_value=0, max_value=1_000_000, step=1, key="grid_seed")
    c4.button("Reshuffle", on_click=reshuffle)
    x, y = dataset.split(split)
    chosen = dash.sample_indices(y, None if emotion == "all" else emotion, side * side, int(st.session_state.grid_seed))
    factor = 4 if side <= 5 else 3
    grid_cols = st.columns(side)
    for i, index in enumerate(chosen):
        grid_cols[i % side].image(dash.upscale(x[index], factor), caption=EMOTIONS[y[index]], width="stretch")
    st.caption(
        f"Seed {st.session_state.grid_seed}: the same seed, split and emotion always give the same grid. "
        "Pixels are enlarged as crisp squares, not smoothed."
    )

# ---- pixel intensities -----------------------------------------------------------------------
st.header("Pixel intensities")
st.markdown(dash.histogram_note(summary))
c1, c2 = st.columns(2)
unit_scale = c1.radio("Scale", ["0–255", "0–1"], horizontal=True) == "0–1"
log_y = c2.toggle("Logarithmic y axis", value=False)
hist = dash.pixel_histogram(summary, unit_scale=unit_scale)
fig = px.bar(
    hist,
    x="intensity",
    y="fraction",
    color="split",
    barmode="overlay",
    opacity=0.6,
    log_y=log_y,
    color_discrete_map={"train": "#1f77b4", "test": "#ff7f0e"},
)
fig.update_traces(marker_line_width=0)
fig.update_layout(bargap=0, yaxis_tickformat=".2%")
ui.chart(fig, title="Share of pixels at each of the 256 grey levels")

brightness = dash.per_class_brightness(summary)
fig = make_subplots(rows=1, cols=2, subplot_titles=("Mean brightness (0–255)", "Mean contrast (pixel std)"))
for column, (name, colour) in enumerate((("brightness", "#636efa"), ("contrast", "#00cc96")), start=1):
    fig.add_trace(
        go.Bar(
            x=brightness["emotion"],
            y=brightness[name],
            marker_color=colour,
            text=brightness[name].round(1),
            textposition="outside",
            name=name,
        ),
        1,
        column,
    )
fig.update_layout(showlegend=False)
ui.chart(fig, height=380, title="Per-class brightness and contrast (training split)")
st.caption(dash.brightness_note(brightness))

# ---- mean faces ------------------------------------------------------------------------------
st.header("Mean face per class")
ui.chart(figures.faces_figure(dash.mean_faces(summary)), height=260)
st.caption(
    "Averaging thousands of aligned faces leaves the shared structure: eyes, nose and mouth. "
    "Look at the mouths — open for surprise, a wide bright smile for happy."
)

# ---- data quality ----------------------------------------------------------------------------
st.header("Data quality")
duplicates = summary["duplicates"]
cols = st.columns(4)
cols[0].metric("Blank images (train / test)", f"{summary['blank_images']['train']} / {summary['blank_images']['test']}")
cols[1].metric("Duplicate copies within train", f"{duplicates['within_train']:,}")
cols[2].metric("Duplicate copies within test", f"{duplicates['within_test']:,}")
cols[3].metric("Test images also in train", f"{duplicates['test_in_train']:,}")
st.caption(dash.duplicates_note(summary))

# ---- drift -----------------------------------------------------------------------------------
st.header("Train / test drift")
drift = summary["drift"]
if drift["flagged"]:
    st.warning(drift["verdict"])
else:
    st.success(drift["verdict"])
fig = make_subplots(rows=1, cols=2, subplot_titles=("Contrast (pixel std)", "Sharpness (Laplacian variance)"))
for col, metric in enumerate(("contrast", "sharpness"), start=1):
    frame = dash.drift_frame(summary, metric)
    for split, colour in (("train", "#1f77b4"), ("test", "#ff7f0e")):
        part = frame[frame["split"] == split]
        fig.add_trace(
            go.Scatter(
                x=part[metric],
                y=part["share"],
                name=split,
                line={"color": colour, "shape": "hvh"},
                fill="tozeroy",
                opacity=0.6,
                showlegend=col == 1,
            ),
            1,
            col,
        )
fig.update_yaxes(tickformat=".0%")
ui.chart(fig, height=360, title="Per-image distributions, each split scaled to 100%")
st.markdown(dash.drift_note(summary))

"""FER Studio — Home: what the app is, whether the dataset is here, and the trained-model leaderboard.

Run with ``streamlit run streamlit_app.py``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

from fer_core.constants import EMOTIONS
from fer_core.data import install_dataset_zip, resolve_data_dir
from fer_core.errors import FerError
from fer_core.views import dataset_counts_note, leaderboard, leaderboard_note, training_time_note
from fer_ui import ui

ui.setup_page("Home", "🙂")
st.title("FER Studio")
st.markdown(
    "Facial emotion recognition on **FER2013**: 35,887 grey faces of 48×48 pixels, each labelled with one of "
    f"seven emotions ({', '.join(EMOTIONS)}). Explore the data, train six kinds of model — from logistic "
    "regression to a convolutional network — watch them learn, and compare what they get right and wrong."
)

# ---- dataset status ------------------------------------------------------------------------
st.header("Dataset")
dataset, problem = ui.get_dataset()
if dataset is not None:
    counts = dataset.counts()
    st.success(f"FER2013 found at `{dataset.source}`.")
    cols = st.columns(3)
    cols[0].metric("Training images", f"{len(dataset.y_train):,}")
    cols[1].metric("Test images", f"{len(dataset.y_test):,}")
    cols[2].metric("Unreadable files skipped", f"{dataset.report.n_skipped:,}")
    st.caption(dataset_counts_note(counts))
else:
    st.warning(
        f"{problem} The EDA and model pages still work from the statistics and models shipped in "
        "`artifacts/`; sample images, training and the mistakes gallery need the dataset."
    )
    ui.dataset_help()
    upload = st.file_uploader("Upload the Kaggle FER2013 zip", type=["zip"], key="dataset_zip")
    if upload is not None and st.button("Check and install this zip", type="primary"):
        dest = resolve_data_dir()
        with tempfile.TemporaryDirectory() as tmp, st.spinner("Checking every image in the zip…"):
            path = Path(tmp) / "upload.zip"
            path.write_bytes(upload.getbuffer())
            try:
                install_dataset_zip(path, dest)
            except (FerError, OSError) as exc:
                st.error(f"The zip was not installed, and nothing was written: {exc}")
            else:
                ui.clear_dataset_cache()
                st.success(f"FER2013 installed into `{dest}`.")
                st.rerun()

# ---- leaderboard ---------------------------------------------------------------------------
st.header("Leaderboard")
cards = ui.get_cards()
board = leaderboard(cards)
if len(board):
    st.markdown(leaderboard_note(cards))
    st.dataframe(
        board,
        hide_index=True,
        column_order=[c for c in board.columns if c != "name"],
        column_config={
            "Test accuracy": st.column_config.ProgressColumn(format="percent", min_value=0.0, max_value=1.0),
            "Macro-F1": st.column_config.NumberColumn(format="%.3f"),
            "Trained on": st.column_config.NumberColumn(format="%d images"),
            "Training time (s)": st.column_config.NumberColumn(format="%.0f"),
            "Device": st.column_config.TextColumn(help="Where the model was trained: compare times on one device only"),
        },
    )
    if note := training_time_note(cards):
        st.caption(note)
else:
    st.info("No model is trained yet.")
ui.missing_models(cards, heading="Not trained yet", compared=True)

st.caption(f"Data folder: {ui.data_dir_note()}. Use the sidebar to open EDA, Training and Model comparison.")

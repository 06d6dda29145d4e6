"""Model comparison: every trained model side by side, from their cards, plus what the models look at.

The table, confusion matrices, F1 bars and training curves come from the model cards alone; the
logistic-regression coefficient images load that small model; the most-confident-mistakes gallery
needs the dataset.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import plotly.express as px
import streamlit as st

from fer_core import views
from fer_core.artifacts import list_cards
from fer_core.constants import EMOTIONS
from fer_core.errors import FerError
from fer_core.explain import importance_map
from fer_core.jobs import queue_folders
from fer_ui import figures, ui

ui.setup_page("Model comparison", "⚖️")
st.title("Model comparison")

cards = ui.get_cards()
lesson_runs = queue_folders()
lesson_view = False
if lesson_runs:
    sources = {"installed": "The installed models"} | {
        str(folder): f"The lesson run of {views.run_folder_time(folder)} (trained on this server)"
        for folder in lesson_runs[:5]
    }
    source = st.radio("Show", list(sources), format_func=sources.get, horizontal=True, key="cards_source")
    if source != "installed":
        cards, lesson_view = list_cards(Path(source)), True
        st.caption(
            "Models trained here with the lesson presets (Training page). They are not installed: the other "
            "pages still use the installed models."
        )
trained = cards.evaluated
names = {name: card.title for name, card in trained.items()}
st.markdown(views.comparison_note(cards))


def pick_cell() -> None:
    """Clicking a confusion-matrix cell selects that (true, predicted) pair for the mistakes gallery."""
    points = st.session_state["cm_main"].selection.get("points", [])
    if points and points[0].get("x") in EMOTIONS and points[0].get("y") in EMOTIONS:
        st.session_state.mis_true, st.session_state.mis_pred = points[0]["y"], points[0]["x"]


# ---- table ------------------------------------------------------------------------------------
st.header("All trained models")
table = views.comparison_table(cards)
if len(table):
    best = views.best_in_column(table)

    def highlight(column: Any) -> list[str]:
        if column.name not in best:
            return [""] * len(column)
        return ["background-color: #c6efce; font-weight: bold" if v == best[column.name] else "" for v in column]

    percent_columns = ["Accuracy", "FER+ majority", *[f"Recall {e}" for e in EMOTIONS]]
    styled = table.style.apply(highlight).format(
        {
            **{c: "{:.1%}" for c in percent_columns},
            "Macro-F1": "{:.3f}",
            "Weighted-F1": "{:.3f}",
            "Training time (s)": "{:,.0f}",
            "Parameters": "{:,.0f}",
            "Size (MB)": "{:.2f}",
            "ms / image": "{:.2f}",
        },
        na_rep="—",
    )
    st.dataframe(styled, hide_index=True)
    st.caption(
        "Click a column header to sort. Green marks the best value in each column (lowest for time, "
        "parameters, size and milliseconds per image at batch size 1; highest elsewhere)."
    )
    if note := views.ferplus_note(cards):
        st.caption(note)
    if note := views.training_time_note(cards):
        st.caption(note)
else:
    st.info("No model is trained yet.")
ui.missing_models(cards, compared=True)
if not trained:
    st.stop()

# ---- confusion matrices -----------------------------------------------------------------------
st.header("Confusion matrices")
st.markdown(
    "Rows are the true emotion, columns the prediction; the diagonal is what the model gets right. "
    "Row-normalised, each row sums to 100% and the diagonal is the recall of that emotion."
)
order = list(names)
c1, c2 = st.columns([2, 1])
main = c1.selectbox("Model", order, format_func=names.get, key="cm_model")
normalised = c2.radio("Show", ["counts", "row-normalised"], index=1, horizontal=True, key="cm_norm") != "counts"
matrix = views.confusion(trained[main], normalised=normalised)
ui.chart(
    figures.confusion_figure(matrix, normalised=normalised),
    height=520,
    title=f"{names[main]} on the test split",
    key="cm_main",
    on_select=pick_cell,
    selection_mode="points",
)
worst_true, worst_pred, _ = views.worst_confusion(trained[main])
st.caption(views.worst_confusion_note(trained[main]))

st.subheader("Two models side by side")
c1, c2 = st.columns(2)
first = c1.selectbox("Model A", order, format_func=names.get, key="cm_a")
second = c2.selectbox("Model B", order, index=min(1, len(order) - 1), format_func=names.get, key="cm_b")
c1, c2 = st.columns(2)
for column, name in ((c1, first), (c2, second)):
    with column:
        ui.chart(
            figures.confusion_figure(views.confusion(trained[name], normalised=normalised), normalised=normalised),
            height=480,
            title=names[name],
            key=f"cm_side_{name}_{column is c1}",
        )
difference = views.confusion(trained[second], normalised=True) - views.confusion(trained[first], normalised=True)
with st.columns([1, 2, 1])[1]:
    ui.chart(
        figures.confusion_figure(difference, normalised=True, colorscale="RdBu", zmid=0.0),
        height=480,
        title="B − A (row-normalised)",
        key="cm_diff",
    )
st.caption(
    "In the difference, blue on the diagonal means B recognises that emotion more often than A; "
    "red off the diagonal means B makes that mistake less often."
)

# ---- mistakes gallery -------------------------------------------------------------------------
st.subheader("Most confident mistakes")
dataset, problem = ui.get_dataset()
proba = None
if lesson_view:
    dataset = None
    st.info("The gallery shows the installed models' mistakes: choose them at the top of the page.")
elif dataset is None:
    st.info(f"{problem} The gallery shows real test images, so it needs the dataset.")
else:
    c1, c2, c3 = st.columns(3)
    gallery_model = c1.selectbox("Model", order, format_func=names.get, key="mis_model")
    st.session_state.setdefault("mis_true", worst_true)
    st.session_state.setdefault("mis_pred", worst_pred)
    true_emotion = c2.selectbox("True emotion", EMOTIONS, key="mis_true")
    predicted_emotion = c3.selectbox("Predicted as", EMOTIONS, key="mis_pred")
    card = trained[gallery_model]
    try:
        proba = ui.test_split_probabilities(gallery_model, card, dataset)
    except FerError as exc:  # a damaged model file; the rest of the page does not need it
        st.error(f"{names[gallery_model]} cannot be loaded: {exc}")
        proba = None
if dataset is not None and proba is not None:
    if true_emotion == predicted_emotion:
        st.caption("Choose two different emotions: equal ones are correct predictions, not mistakes.")
    indices, confidence = views.confident_mistakes(proba, dataset.y_test, true_emotion, predicted_emotion, k=12)
    if len(indices) == 0:
        st.info(f"{names[gallery_model]} never called a {true_emotion} test face {predicted_emotion}.")
    else:
        cols = st.columns(6)
        for i, (index, conf) in enumerate(zip(indices, confidence)):
            cols[i % 6].image(
                views.upscale(dataset.x_test[index], 3), caption=f"{conf:.0%} {predicted_emotion}", width="stretch"
            )
        st.caption(
            f"Test faces labelled {true_emotion} that {names[gallery_model]} called {predicted_emotion}, most "
            "confident first. Some are honest model errors; some labels are debatable."
        )

# ---- what hand-made features buy -------------------------------------------------------------
lesson = views.features_lesson(cards)
if len(lesson):
    st.header("What hand-made features buy")
    fig = px.bar(lesson, x="model", y="accuracy", color="features", barmode="group", text_auto=".1%")
    fig.update_yaxes(range=[0, 1], tickformat=".0%")
    ui.chart(fig, height=360, title="Test accuracy: raw pixels vs HOG edge features + pixels")
    st.caption(views.features_note(lesson))

# ---- per-class F1 and curves ------------------------------------------------------------------
st.header("Per-class F1")
f1 = views.per_class_f1(cards)
fig = px.bar(f1, x="emotion", y="F1", color="model", barmode="group", category_orders={"emotion": list(EMOTIONS)})
fig.update_yaxes(range=[0, 1])
ui.chart(fig, height=420)
st.caption(views.f1_note(f1))

st.header("Can you trust the percentages?")
reliability = views.reliability_table(cards)
if len(reliability):
    ui.chart(figures.reliability_figure(reliability), height=420)
    calibration = views.calibration_rows(cards)
    st.dataframe(calibration, hide_index=True)
    st.caption(views.calibration_note(calibration))
else:
    st.info("No model has calibration numbers yet.")

st.header("Training curves of the neural networks")
curves = views.keras_histories(cards)
if len(curves):
    ui.chart(figures.curves_figure(curves, color="model", dash="split"), height=440)
    st.caption("Solid lines: training; dashed: validation. A widening gap between them is overfitting.")
else:
    st.info("No Keras model is trained yet.")

# ---- what the models look at ------------------------------------------------------------------
if lesson_view:
    st.stop()  # what follows loads the installed models themselves
st.header("What the models look at")
summary = ui.load_summary()
if "random_forest" in trained and (importance := importance_map(trained["random_forest"])) is not None:
    mean_face = views.overall_mean_face(summary) if summary is not None else None
    ui.chart(figures.importance_figure(importance, mean_face), height=440)
    st.caption(views.importance_note(importance))
else:
    ui.not_trained_card("random_forest", "Its pixel importances appear here once it is trained.")

try:
    weights = ui.logreg_weights(trained["logreg"]) if "logreg" in trained else None
    logreg_problem = None
except FerError as exc:
    weights, logreg_problem = None, str(exc)
if weights is not None:
    ui.chart(figures.weights_figure(weights), height=260, title="Logistic regression: pixel weights per class")
    st.caption(views.logreg_weights_note(trained["logreg"], ui.logreg_pixel_share(trained["logreg"])))
else:
    ui.not_trained_card("logreg", logreg_problem or "Its coefficient images appear here once it is trained.")

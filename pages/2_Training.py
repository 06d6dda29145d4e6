"""Training: pick a model and its hyperparameters, train it in the background and watch it learn live.

The job runs in a worker process supervised by :mod:`fer_core.jobs` (one per server); this page only
starts it, polls its state once a second and draws it, so leaving or refreshing the page never
stops training, and widget reruns never restart it.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from fer_core import presets, views
from fer_core.artifacts import list_versions, restore_version
from fer_core.constants import EMOTIONS
from fer_core.errors import FerError
from fer_core.ferplus import CREDIT
from fer_core.jobs import JobBusyError, JobState, get_manager
from fer_core.models import REGISTRY, get_spec
from fer_core.presets import get_preset
from fer_ui import figures, ui

ui.setup_page("Training", "🏋️")
st.title("Train a model")

manager = get_manager()
dataset, problem = ui.get_dataset()


LABEL_CHOICES = {
    "ferplus": "FER+: the votes of 10 people per face",
    "fer2013": "FER2013: one label per face",
}


def hyperparameters_ui(name: str) -> tuple[dict[str, Any], int | None]:
    """Draw the controls for ``name`` (defaults from the registry); return (params, subset size)."""
    spec = get_spec(name)
    defaults = spec.default_params
    params: dict[str, Any] = {}
    cols = st.columns(4)
    n_train = len(dataset.y_train) if dataset is not None else 28709
    limit = cols[0].number_input(
        "Training-subset size (images)",
        min_value=100,
        max_value=n_train,
        value=min(5000, n_train),
        step=500,
        key=f"{name}_limit",
        help="A stratified random subset of the training split; use the maximum for all images.",
    )
    cols[0].caption(views.subset_split_note(int(limit), float(defaults.get("validation_fraction", 0.1))))
    if spec.family == "keras":
        params["epochs"] = cols[1].number_input("Epochs", 1, 200, int(defaults["epochs"]), key=f"{name}_epochs")
        if "ensemble_epochs" in defaults:  # the page trains one network (see views.page_trains_note)
            params["ensemble_epochs"] = [int(params["epochs"])]
        params["batch_size"] = cols[2].select_slider(
            "Batch size", [16, 32, 64, 128, 256, 512], value=int(defaults["batch_size"]), key=f"{name}_batch"
        )
        params["learning_rate"] = cols[3].number_input(
            "Learning rate", 1e-5, 1.0, float(defaults["learning_rate"]), format="%.4f", key=f"{name}_lr"
        )
        c1, c2 = st.columns(2)
        photo = defaults["augment"] == "photo"
        kinds = "tilt, zoom, light, blur, JPEG, covering" if photo else "random flips and shifts"
        augment = c1.toggle(
            f"Augmentation ({kinds})",
            bool(defaults["augment"]),
            key=f"{name}_augment",
        )
        params["augment"] = ("photo" if photo else True) if augment else False
        balanced = c2.toggle(
            "Class weights (rarer emotions count more)", defaults["class_weight"] == "balanced", key=f"{name}_weights"
        )
        params["class_weight"] = "balanced" if balanced else None
        if name == "mlp":
            params["features"] = "hog+pixels" if hog_toggle(defaults, "mlp_hog") else "pixels"
        if "labels" in defaults:
            params["labels"] = st.radio(
                "Labels to learn from",
                list(LABEL_CHOICES),
                index=list(LABEL_CHOICES).index(defaults["labels"]),
                format_func=LABEL_CHOICES.get,
                horizontal=True,
                key=f"{name}_labels",
                help=f"FER+ needs its votes file beside the dataset (ferplus/votes.csv). {CREDIT}.",
            )
    elif name == "random_forest":
        params["n_estimators"] = cols[1].number_input(
            "Trees",
            1,
            500,
            int(defaults["n_estimators"]),
            key="rf_trees",
            help="A fully grown tree on all of train takes about 3 MB of memory: 150 trees need about 0.5 GB.",
        )
        depth = cols[2].number_input(
            "Maximum depth (0 = no limit)",
            0,
            100,
            int(defaults["max_depth"] or 0),
            key="rf_depth",
            help="Without a limit each tree grows until its leaves hold one emotion: more accurate, bigger files.",
        )
        params["max_depth"] = int(depth) or None
        balanced = cols[3].toggle("Class weights", defaults["class_weight"] == "balanced", key="rf_weights")
        params["class_weight"] = "balanced" if balanced else None
        params["flip_augment"] = st.toggle(
            "Augmentation (add mirrored faces)", bool(defaults["flip_augment"]), key="rf_flip"
        )
    else:
        params["pca_components"] = cols[1].number_input(
            "PCA components (0 = none)", 0, 1000, int(defaults["pca_components"]), key="lr_pca"
        )
        params["C"] = cols[2].number_input(
            "C (inverse regularisation)", 0.001, 100.0, float(defaults["C"]), format="%.3f", key="lr_c"
        )
        params["flip_augment"] = cols[3].toggle(
            "Augmentation (mirrored faces)", bool(defaults["flip_augment"]), key="lr_flip"
        )
        params["features"] = "hog+pixels" if hog_toggle(defaults, "lr_hog") else "pixels"
    return params, None if limit >= n_train else int(limit)


def hog_toggle(defaults: Any, key: str) -> bool:
    """The switch for HOG edge features next to the pixels (logistic regression and the MLP)."""
    return st.toggle(
        "HOG edge features as well as pixels",
        defaults["features"] == "hog+pixels",
        key=key,
        help="Histograms of edge directions per 8x8 cell: the classic hand-made feature. On raw pixels alone "
        "a linear model tops out near 37% accuracy and the MLP near 48%.",
    )


def start_job(request: dict[str, Any]) -> None:
    """Start a job, or remember why not (another one is running)."""
    try:
        manager.start(
            request["name"],
            params=request["params"],
            limit=request["limit"],
            owner=request["owner"],
            session=ui.session_id(),
            preset=request.get("preset"),
            plan=request.get("plan"),
        )
        st.session_state.pop("busy", None)
        st.session_state.pop("pending", None)
    except JobBusyError as exc:
        st.session_state.busy = (str(exc), request)
    except (FerError, ValueError) as exc:
        st.session_state.start_error = str(exc)


def render_curves(state: JobState) -> None:
    """Loss and accuracy curves (Keras) or the validation accuracy (scikit-learn)."""
    frame = views.history_frame(state.history)
    if state.family == "keras" and len(frame):
        figure = figures.curves_figure(frame)
        ui.chart(figure, height=330, title="Loss and accuracy per epoch", key=f"curves-{state.job_id}")
    elif state.family == "keras":
        st.info("The curves get their first point when epoch 1 ends.")


def render_progress(state: JobState) -> None:
    """Progress bars, live numbers, the stop button and the curves of a running job (compact: on a
    1366x768 projector the curves stay above the fold)."""
    text, button = st.columns([5, 2], vertical_alignment="center")
    text.markdown(
        f"**{state.display_name}**{f' ({state.preset} preset)' if state.preset else ''} · started by "
        f"{state.owner}, {views.format_seconds(state.elapsed_seconds)} ago"
    )
    me = ui.session_id()
    if manager.owned_by(me):
        button.button(
            "■ Stop (keeps the best weights)",
            on_click=manager.stop,
            args=(me,),
            disabled=state.stop_requested,
            key="stop",
        )
    else:
        button.caption(f"You are watching {state.owner}'s run: only the tab that started it can stop it.")
    st.progress(min(state.fraction, 1.0), text=views.overall_progress_text(state))
    if state.phase == "fit" and state.family == "keras" and state.epochs:
        st.progress(min(state.epoch_fraction, 1.0), text=views.epoch_progress_text(state))
    elif state.steps:
        st.progress(min(state.step / state.steps, 1.0), text=f"{state.phase_label}: {state.message}")
    else:
        st.progress(0.0, text=state.phase_label or state.message)
    if queued := manager.queue_state()[1]:
        st.caption("Next in the queue: " + ", ".join(REGISTRY[n].display_name for n in queued) + ".")
    render_curves(state)


@st.fragment(run_every=1.0)
def live_job() -> None:
    """Redraws itself every second while the job runs; a full rerun shows the result once it ends."""
    state = manager.snapshot()
    if state is None or not (state.active or manager.queue_state()[1]):
        st.rerun()
    render_progress(state)


def render_result(state: JobState) -> None:
    """The finished run: its metrics and confusion matrix next to the installed model, and "Use this model"."""
    if state.status == "failed":
        st.error(f"Training {state.display_name} failed: {state.error}")
        return
    card = state.card
    if card is None or not card.evaluated:
        st.warning(f"Training {state.display_name} finished without test-split numbers; there is nothing to show.")
        return
    st.success(views.training_done_note(state.display_name, card))
    render_curves(state)
    shipped = ui.get_cards().evaluated.get(state.model)
    rows = views.training_runs(card, shipped)
    table = views.training_comparison(card, shipped)
    st.dataframe(
        table,
        hide_index=True,
        column_config={
            "Accuracy": st.column_config.NumberColumn(format="percent"),
            "Macro-F1": st.column_config.NumberColumn(format="%.3f"),
            "Weighted-F1": st.column_config.NumberColumn(format="%.3f"),
            **{f"Recall {e}": st.column_config.NumberColumn(format="percent") for e in EMOTIONS},
        },
    )
    columns = st.columns(len(rows))
    for column, (label, c) in zip(columns, rows.items()):
        with column:
            ui.chart(
                figures.confusion_figure(views.confusion(c, normalised=True), normalised=True),
                height=430,
                title=f"{label}: row-normalised confusion",
                key=f"cm-{label}",
            )
    if shipped is None:
        st.caption(f"No {state.display_name} is installed yet, so there is nothing to compare against.")
    me = ui.session_id()
    if state.installed_to is not None:
        st.success(f"Installed into `{state.installed_to}`; the other pages now use this model.")
    elif not manager.owned_by(me):
        st.caption(f"This is {state.owner}'s run: only the browser tab that started it can install it.")
    else:
        concerns = views.install_concerns(card, shipped)
        for concern in concerns:
            st.warning(concern)
        confirmed = not concerns or st.checkbox("I understand — install it anyway", key="install_confirm")
        if st.button("✓ Use this model", type="primary", key="install", disabled=not confirmed):
            try:
                target = manager.install(session=me)
            except (FerError, OSError) as exc:
                st.error(f"Could not install the model: {exc}")
            else:
                st.success(f"Installed into `{target}`; the model it replaced is kept and can be restored below.")
    st.caption(f"This run is kept in `{state.run_dir}`.")


def render_versions(name: str) -> None:
    """Earlier versions of the selected model, with Restore."""
    versions = list_versions(name)
    if not versions:
        return
    with st.expander(f"Earlier versions of {REGISTRY[name].display_name} ({len(versions)})"):
        labels = {
            vid: f"{c.created[:16].replace('T', ' ')} — "
            + (f"{c.headline_accuracy:.1%} test accuracy" if c.headline_accuracy is not None else "not evaluated")
            for vid, c in versions
        }
        chosen = st.selectbox("Version", list(labels), format_func=labels.get, key=f"version-{name}")
        if st.button("Restore this version", key=f"restore-{name}"):
            try:
                restore_version(name, chosen)
            except (FerError, OSError) as exc:
                st.error(f"Could not restore it: {exc}")
            else:
                st.success("Restored; the model it replaced is kept as an earlier version in turn.")
                st.rerun()


def controls() -> None:
    """Model, preset (or custom settings), the expected duration, and the Start buttons."""
    if dataset is None:
        st.warning(f"{problem} Training needs the images themselves.")
        ui.dataset_help()
    names = list(REGISTRY)
    name = st.selectbox(
        "Model",
        names,
        format_func=lambda n: f"{REGISTRY[n].display_name} ({n})",
        key="model",
        index=names.index("cnn_basic"),
    )
    st.caption(get_spec(name).description)
    render_versions(name)
    preset = st.radio(
        "Settings",
        list(views.PRESET_CHOICES),
        format_func=views.PRESET_CHOICES.get,
        horizontal=True,
        key=f"{name}_preset",
        help="Lesson: chosen to finish within 5 minutes on 2 CPU cores, test evaluation included. Full: the "
        "recipe's own settings on all training images. Custom: set everything yourself.",
    )
    n_train = len(dataset.y_train) if dataset is not None else 28709
    if preset == "custom":
        if note := views.page_trains_note(name):
            st.caption(note)
        params, limit = hyperparameters_ui(name)
    else:
        chosen = get_preset(name, preset)
        params, limit = dict(chosen.params), chosen.limit
        split = views.subset_split_note(
            limit or n_train, float(chosen.resolved_params().get("validation_fraction", 0.1))
        )
        st.caption(f"**{views.PRESET_CHOICES[preset]}**: {chosen.summary} ({split})")
    record = presets.read_measured()
    factor = ui.machine_factor(presets.measured_version(), busy=manager.snapshot() is not None and running)
    estimate = presets.estimate_seconds(name, params, limit, n_train, record, factor)
    found = presets.measured(name, preset, record) if preset != "custom" else None
    st.info(
        views.preset_expectation(REGISTRY[name].display_name, preset, estimate, found, presets.SEED_NOTEBOOK.get(name))
    )
    owner = st.text_input("Your name (shown to others while you train)", value="A student", key="owner")
    plan = presets.expected_phases(name, preset, record, factor) if preset != "custom" and estimate else None
    request = {"name": name, "params": params, "limit": limit, "owner": owner, "preset": None, "plan": plan}
    if preset != "custom":
        request["preset"] = preset
    start, six = st.columns([1, 2])
    # The buttons are read after the widgets above, so the request holds this run's values (a callback's
    # arguments would hold the previous run's).
    if start.button("▶ Start training", type="primary", disabled=dataset is None, key="start"):
        start_job(request)
        st.rerun()
    lesson_total = sum((presets.measured(m, "lesson", record) or {}).get("seconds", 0.0) for m in presets.SEED_NOTEBOOK)
    label = "▶ Train all six with lesson presets"
    if lesson_total:
        label += f" (about {views.format_seconds(lesson_total * factor)})"
    if six.button(
        label,
        disabled=dataset is None,
        key="six",
        help="One after another; the Model comparison page can then show the six side by side. Stop ends the queue.",
    ):
        requests = []
        for model in presets.SEED_NOTEBOOK:  # the six models of the lesson
            lesson = presets.PRESETS[model]["lesson"]
            requests.append(
                {
                    "name": model,
                    "params": dict(lesson.params),
                    "limit": lesson.limit,
                    "owner": owner,
                    "session": ui.session_id(),
                    "preset": "lesson",
                    "plan": presets.expected_phases(model, "lesson", record, factor),
                }
            )
        try:
            manager.start_queue(requests)
        except JobBusyError as exc:
            st.session_state.start_error = f"Only one training job runs at a time on this server. {exc}"
        except (FerError, ValueError) as exc:
            st.session_state.start_error = str(exc)
        else:
            st.rerun()


state = manager.snapshot()
pending = st.session_state.get("pending")
if pending is not None and (state is None or not state.active):
    start_job(pending)
    state = manager.snapshot()
elif state is None or not state.active:
    st.session_state.pop("busy", None)  # whoever was training has finished

running = state is not None and (state.active or bool(manager.queue_state()[1]))  # a queue between runs too
if running:
    # While a run trains, its progress and curves come first (above the fold on a 1366x768 projector).
    live_job()
    with st.expander("Train another model (it starts when this run ends)"):
        controls()
else:
    st.markdown(
        "Training fits a model on the training images while a **validation** split, carved from train and never "
        "trained on, checks it after every epoch. Watch the two curves: while both improve the model is learning; "
        "when training accuracy keeps rising but validation stalls, it has started to memorise its training faces."
    )
    st.header("Model and settings")
    controls()
if error := st.session_state.pop("start_error", None):
    st.error(error)
if busy := st.session_state.get("busy"):
    message, wanted = busy
    st.warning(f"Only one training job runs at a time on this server. {message}")
    if st.session_state.get("pending") is None:
        if st.button("Wait, then start mine automatically", key="wait"):
            st.session_state.pending = wanted
            st.rerun()
    else:
        st.info(
            f"Yours ({REGISTRY[wanted['name']].display_name}) will start as soon as it finishes; keep this page open."
        )

# ---- the finished job ---------------------------------------------------------------------------
if state is None:
    st.header("Progress")
    st.info("No training has run on this server yet. Choose a model above and press Start.")
elif not running:
    st.header("Last run")
    render_result(state)

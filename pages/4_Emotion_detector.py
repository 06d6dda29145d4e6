"""Emotion detector: photos, snapshots or the webcam; every face is boxed, classified and explained.

Models and the face detector are loaded once per server (cached in ``fer_ui.ui``) and shared by all
sessions; each session keeps only its own live-video state. Photos and frames stay in memory.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import pandas as pd
import streamlit as st

from fer_core.cards import ModelCard, ModelCards
from fer_core.constants import EMOTIONS
from fer_core.errors import FerError
from fer_core.explain import enlarge_face, explain_face, overlay
from fer_core.faces import DETECTORS, DetectorSettings, FacePrediction
from fer_core.live import LiveProcessor, LiveSnapshot, timeline_csv
from fer_core.models import FerModel
from fer_core.photo import (
    PhotoAnalysis,
    analyse_photo,
    display_image,
    png_bytes,
    result_rows,
    results_csv,
    results_json,
)
from fer_core.views import default_detector_model, face_heading, live_status, model_error_note, photo_faces_notes
from fer_ui import figures, ui

PHOTO_TYPES = ["jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff"]
#: Detector sensitivity: (Haar min_neighbors, MTCNN least face score).
SENSITIVITY = {"low": (8, 0.97), "medium": (5, 0.9), "high": (3, 0.8), "very high": (2, 0.7)}
SMOOTHING_CHOICES = [1, 3, 5, 10, 20, 30]
NO_FACE_TIPS = (
    "- Use a well-lit photo, with light on the face rather than behind it.\n"
    "- Face the camera: the detector finds frontal faces, not profiles.\n"
    "- Make the face bigger in the picture, or lower *Minimum face size* in the sidebar.\n"
    "- Raise *Detector sensitivity* in the sidebar.\n"
    "- If the photo is already a cropped face (like FER2013's own images), tick *The whole image is one face*."
)
SESSION_CACHE_SIZE = 12
LIVE_REFRESH_SECONDS = 0.5
CONNECT_PATIENCE_SECONDS = 15.0


# --------------------------------------------------------------------------------------------
# Sidebar
# --------------------------------------------------------------------------------------------


def model_ui(cards: ModelCards) -> str:
    """The model selector; returns the chosen model's name."""
    names = cards.trained

    def label(name: str) -> str:
        card = cards.cards[name]
        accuracy = card.headline_accuracy
        suffix = f" — {accuracy:.0%} test accuracy" if accuracy is not None else ""
        return f"{card.title}{suffix}"

    return st.sidebar.selectbox(
        "Model",
        names,
        index=names.index(default_detector_model(cards)),
        format_func=label,
        key="detector_model",
        help="Any trained model; the default is the most accurate CNN.",
    )


def detector_ui() -> tuple[str, DetectorSettings, bool, bool]:
    """The detector's name and settings, the whole-image option and the explanations switch."""
    st.sidebar.subheader("Face detector")
    detector = st.sidebar.selectbox(
        "Detector",
        list(DETECTORS),
        format_func=lambda name: DETECTORS[name],
        key="detector_kind",
        help="For photos. MTCNN finds tilted, covered, close-up and small faces and levels the eyes before "
        "classifying; the Haar cascade only finds upright faces. Live video always uses the faster Haar cascade.",
    )
    sensitivity = st.sidebar.select_slider(
        "Detector sensitivity",
        list(SENSITIVITY),
        value="medium",
        help="Higher finds more faces, including some that are not faces.",
    )
    min_size = st.sidebar.slider(
        "Minimum face size (% of the shorter image side)",
        2,
        50,
        5,
        help="Faces smaller than this are ignored; lower it for group photos.",
    )
    whole_image = st.sidebar.checkbox(
        "The whole image is one face",
        value=False,
        key="detector_whole_image",
        help="Skip detection and classify the whole image, for already-cropped faces such as FER2013's own.",
    )
    explain = st.sidebar.toggle("Show explanations", value=True, help="Heatmaps of what drove each prediction.")
    neighbours, score = SENSITIVITY[sensitivity]
    settings = DetectorSettings(min_neighbors=neighbours, min_score=score, min_face_fraction=min_size / 100)
    return detector, settings, whole_image, explain


# --------------------------------------------------------------------------------------------
# Photos (uploads and snapshots)
# --------------------------------------------------------------------------------------------


def analyse_cached(data: bytes, name: str, model: FerModel, options: tuple[Any, ...]) -> PhotoAnalysis:
    """Analyse a photo, remembered in this session only so reruns (e.g. toggling a switch) are instant."""
    detector, settings, whole_image = options
    key = (hashlib.sha1(data).hexdigest(), name, model.name, id(model), detector, settings, whole_image)
    cache: dict[Any, PhotoAnalysis] = st.session_state.setdefault("detector_photo_cache", {})
    if key not in cache:
        if len(cache) >= SESSION_CACHE_SIZE:
            cache.pop(next(iter(cache)))
        cache[key] = analyse_photo(
            data, model, ui.get_detector(detector), name=name, whole_image=whole_image, settings=settings
        )
    return cache[key]


def render_face(
    analysis: PhotoAnalysis, index: int, model: FerModel, card: ModelCard, explain: bool, key: str
) -> None:
    """One face: its crop as the model sees it, an explanation and all seven probabilities."""
    face: FacePrediction = analysis.faces[index]
    crop = analysis.crops[index]
    st.markdown(face_heading(face, index + 1))
    columns = st.columns([1, 1, 2]) if explain else st.columns([1, 3])
    columns[0].image(enlarge_face(crop), caption="As the model sees it (48×48)")
    if explain:
        try:
            explanation = explain_face(model, crop, EMOTIONS.index(face.emotion), card)
        except (FerError, ValueError) as exc:
            explanation, reason = None, str(exc)
        else:
            reason = "This model has no explanation map."
        if explanation is None:
            columns[1].caption(reason)
        else:
            columns[1].image(overlay(crop, explanation.heatmap), caption=explanation.caption)
    with columns[-1]:
        st.plotly_chart(figures.probability_chart(face.probabilities), theme=None, key=f"{key}-chart-{index}")


def render_no_face(analysis: PhotoAnalysis) -> None:
    """The no-face message with tips, and the photo itself so the user sees what was analysed."""
    st.warning(f"No face found in {analysis.name}.")
    st.markdown(NO_FACE_TIPS)
    st.image(display_image(analysis.annotated, 640), caption=analysis.name)


def render_photo(analysis: PhotoAnalysis, model: FerModel, card: ModelCard, explain: bool, key: str) -> None:
    """The annotated photo, its PNG download and a card for each of its largest faces."""
    st.subheader(analysis.name)
    if not analysis.faces:
        render_no_face(analysis)
        return
    caption, hidden_note = photo_faces_notes(analysis)
    st.image(display_image(analysis.annotated), caption=caption)
    if hidden_note:
        st.info(hidden_note)
    st.caption(model_error_note(card))
    st.download_button(
        "Download the annotated image (PNG)",
        png_bytes(analysis.annotated),
        file_name=f"{analysis.name.rsplit('.', 1)[0]}_emotions.png",
        mime="image/png",
        key=f"{key}-png",
    )
    for index in analysis.detailed:
        render_face(analysis, index, model, card, explain, key)


def render_results(analyses: list[PhotoAnalysis], key: str) -> None:
    """The results table of every face and the CSV / JSON downloads."""
    rows = result_rows(analyses)
    if not rows:
        return
    st.subheader("Results")
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    left, right = st.columns(2)
    left.download_button(
        "Download results (CSV)", results_csv(analyses), file_name="emotions.csv", mime="text/csv", key=f"{key}-csv"
    )
    right.download_button(
        "Download results (JSON)",
        results_json(analyses),
        file_name="emotions.json",
        mime="application/json",
        key=f"{key}-json",
    )


def photos_section(
    files: list[tuple[str, bytes]],
    model: FerModel,
    card: ModelCard,
    options: tuple[Any, ...],
    explain: bool,
    key: str,
) -> None:
    """Analyse and draw a list of ``(name, bytes)`` photos."""
    analyses = []
    for number, (name, data) in enumerate(files):
        try:
            with st.spinner(f"Looking for faces in {name}…"):
                analysis = analyse_cached(data, name, model, options)
        except FerError as exc:
            st.error(f"{name}: {exc}")
            continue
        render_photo(analysis, model, card, explain, key=f"{key}-{number}")
        analyses.append(analysis)
    render_results(analyses, key)


# --------------------------------------------------------------------------------------------
# Live webcam
# --------------------------------------------------------------------------------------------


def live_processor(model: FerModel) -> LiveProcessor:
    """This session's frame processor (its smoothing and timeline belong to this browser tab only)."""
    if "detector_live" not in st.session_state:
        st.session_state["detector_live"] = LiveProcessor(model, detector=ui.get_detector("haar"))
    return st.session_state["detector_live"]


def render_live(snapshot: LiveSnapshot) -> None:
    """The live readout from a snapshot of the processor's buffer."""
    st.caption(live_status(snapshot))
    if snapshot.error:
        st.error(f"The video processor hit an error: {snapshot.error}")
    elif snapshot.largest is None:
        st.info("No face in view yet: face the camera in good light.")
    else:
        face = snapshot.largest
        if face.not_sure:
            st.markdown(f"### Largest face: not sure — perhaps {face.emotion} ({face.confidence:.0%})")
        else:
            st.markdown(f"### Largest face: **{face.emotion}** ({face.confidence:.0%})")
        st.plotly_chart(figures.probability_chart(face.probabilities, 280), theme=None, key="live-bars")
    if snapshot.timeline:
        st.plotly_chart(figures.timeline_chart(snapshot), theme=None, key="live-timeline")


@st.fragment(run_every=LIVE_REFRESH_SECONDS)
def live_readout(processor: LiveProcessor) -> None:
    """Redraws itself from the processor's buffer while the video plays (the rest of the page stays put)."""
    render_live(processor.buffer.snapshot())


@st.fragment(run_every=1.0)
def connecting_notice(started: float) -> None:
    """"Connecting…", turning into advice if the camera has not connected after a while."""
    if time.monotonic() - started < CONNECT_PATIENCE_SECONDS:
        st.info("Connecting to the camera…")
    else:
        st.warning(
            "The live video could not connect (WebRTC is blocked or the camera is busy). "
            "Use the **Camera snapshot** tab instead."
        )


def live_section(model: FerModel, settings: DetectorSettings, whole_image: bool) -> None:
    """The webcam stream, its controls and the live readout (refreshed by a fragment while the video plays)."""
    smoothing = st.select_slider(
        "Smoothing over recent frames",
        SMOOTHING_CHOICES,
        value=5,
        format_func=lambda n: "off (raw)" if n == 1 else f"{n} frames",
        help="Averages each face's probabilities over its last frames so labels flicker less.",
    )
    processor = live_processor(model)
    processor.configure(model=model, smoothing_window=smoothing, detector=settings, whole_image=whole_image)
    st.caption(
        "Press **Start** and allow the camera. The video goes to this server only, over a direct local "
        "connection (no STUN/TURN servers). If it does not start, use the **Camera snapshot** tab instead."
    )
    try:
        context = ui.webcam_stream("fer-live", processor)
    except Exception as exc:  # noqa: BLE001 - e.g. no WebRTC runtime (headless tests); the page must go on
        st.warning(f"Live video is not available here ({type(exc).__name__}). Use the **Camera snapshot** tab instead.")
        return
    was_playing = st.session_state.get("detector_live_playing", False)
    st.session_state["detector_live_playing"] = context.state.playing
    if context.state.playing:
        if not was_playing:
            processor.reset()
        live_readout(processor)
        return
    if context.state.signalling:
        connecting_notice(st.session_state.setdefault("detector_live_connecting", time.monotonic()))
        return
    st.session_state.pop("detector_live_connecting", None)
    snapshot = processor.buffer.snapshot()
    if snapshot.timeline:
        render_live(snapshot)
        st.download_button(
            "Download this session's live timeline (CSV)",
            timeline_csv(snapshot.timeline),
            file_name="live_timeline.csv",
            mime="text/csv",
            key="live-timeline-csv",
        )


# --------------------------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------------------------

ui.setup_page("Emotion detector", "📷")
st.title("Emotion detector")
st.markdown(
    "Upload photos, take a snapshot or turn on your webcam. Every face found is boxed and labelled with its "
    "emotion, numbered left to right; below each photo you see every face as the model sees it, what drove "
    "the prediction, and all seven probabilities."
)
st.info(
    "**Privacy:** photos and video frames are processed in memory on this server, never written to disk "
    "or logged, and forgotten when you close this tab.",
    icon="🔒",
)

cards = ui.get_cards()
if not cards.trained:
    st.warning("No trained model is installed yet, so there is nothing to detect emotions with.")
    ui.missing_models(cards)
    st.stop()

model_name = model_ui(cards)
detector_kind, detector_settings, whole, show_explanations = detector_ui()
card = cards.cards[model_name]
try:
    model = ui.get_model(model_name, card)
except FerError as exc:  # a damaged model file: say so, and let the user pick another model
    st.error(f"{card.title} cannot be used: {exc} Choose another model in the sidebar.")
    st.stop()
options = (detector_kind, detector_settings, whole)

upload_tab, snapshot_tab, live_tab = st.tabs(["Upload photos", "Camera snapshot", "Live webcam"])
with upload_tab:
    uploads = st.file_uploader(
        "Photos (JPEG, PNG, WebP, BMP, GIF or TIFF)",
        type=PHOTO_TYPES,
        accept_multiple_files=True,
        key="detector_upload",
    )
    if uploads:
        photos_section([(f.name, f.getvalue()) for f in uploads], model, card, options, show_explanations, "upload")
    else:
        st.caption("Tip: group photos work too; every face is boxed.")
with snapshot_tab:
    shot = st.camera_input("Take a snapshot", key="detector_camera")
    if shot is not None:
        photos_section([("camera snapshot", shot.getvalue())], model, card, options, show_explanations, "camera")
with live_tab:
    # Last on the page: while the video plays, this section keeps the script running to poll the buffer.
    live_section(model, detector_settings, whole)

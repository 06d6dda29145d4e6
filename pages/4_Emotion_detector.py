"""Emotion detector: photos, snapshots, video files or the webcam; every face is boxed, classified and explained.

Models and the face detector are loaded once per server (cached in ``fer_ui.ui``) and shared by all
sessions; each session keeps only its own live-video state. Photos and frames stay in memory.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import numpy as np
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
from fer_core.video import PAGE_LIMITS, VIDEO_TYPES, VideoJob, VideoSettings
from fer_core.views import (
    CAMERA_HELP,
    all_models_note,
    all_models_table,
    camera_problem,
    changes_table,
    default_detector_model,
    face_heading,
    live_status,
    model_error_note,
    people_table,
    photo_faces_notes,
    video_progress_text,
    video_summary,
)
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
#: Each progress refresh is a script run, after which Streamlit clears the Keras session and collects
#: garbage (about 0.15 s each, holding the GIL): at 0.5 s a 90-frame clip took 7 s in the page, at 1 s 3 s.
VIDEO_REFRESH_SECONDS = 1.0
#: "Classify every N-th frame" choices for video files.
VIDEO_EVERY_CHOICES = [1, 2, 3, 5, 10]
#: People drawn with their own timeline (the ones seen longest); the table lists everyone.
VIDEO_TIMELINES = 6


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
    st.sidebar.toggle(
        "Compare every model on each face",
        value=False,
        key="detector_all_models",
        help="One detection, every installed model's answer side by side: classic machine learning next to "
        "deep learning.",
    )
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


def render_face(analysis: PhotoAnalysis, index: int, model: FerModel, card: ModelCard, explain: bool, key: str) -> None:
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
    if st.session_state.get("detector_all_models"):
        every_model(analysis, index, key)


def all_model_probabilities(analysis: PhotoAnalysis) -> dict[str, np.ndarray]:
    """Every installed model's probabilities ``(faces, 7)`` for a photo's crops (one detection, each model once)."""
    cards = ui.get_cards()
    cache: dict[Any, dict[str, np.ndarray]] = st.session_state.setdefault("detector_all_models_cache", {})
    cache_key = (id(analysis), tuple(cards.trained))
    if cache_key not in cache:
        if len(cache) >= SESSION_CACHE_SIZE:
            cache.pop(next(iter(cache)))
        result = {}
        with st.spinner("Asking every model…"):
            for name in cards.trained:
                card = cards.cards[name]
                try:
                    result[name] = ui.get_model(name, card).predict_proba(analysis.crops, tta=card.headline_tta)
                except FerError:
                    continue  # a damaged model file is reported where it is chosen
        cache[cache_key] = result
    return cache[cache_key]


def every_model(analysis: PhotoAnalysis, index: int, key: str) -> None:
    """Every model's answer and probabilities for one face, side by side, and what differs."""
    cards = ui.get_cards()
    probabilities = {name: p[index] for name, p in all_model_probabilities(analysis).items()}
    if not probabilities:
        return
    table = all_models_table(cards, probabilities)
    st.markdown(all_models_note(table))
    left, right = st.columns([2, 3])
    left.dataframe(table, hide_index=True)
    with right:
        st.plotly_chart(
            figures.models_heatmap(list(table["model"]), np.stack(list(probabilities.values()))),
            theme=None,
            key=f"{key}-all-models-{index}",
        )


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
    """ "Connecting…", turning into advice if the camera has not connected after a while."""
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
# Video files
# --------------------------------------------------------------------------------------------


def video_section(model: FerModel, card: ModelCard, settings: DetectorSettings) -> None:
    """Upload a clip, analyse it in the background (progress, ETA, Stop), then its results."""
    upload = st.file_uploader(
        f"A video clip ({', '.join(t.upper() for t in VIDEO_TYPES)}; up to {PAGE_LIMITS.max_bytes // 1024**2} MB, "
        f"{PAGE_LIMITS.max_seconds / 60:.0f} minutes, 4K)",
        type=list(VIDEO_TYPES),
        key="detector_video",
    )
    left, right = st.columns(2)
    every = left.select_slider(
        "Classify",
        VIDEO_EVERY_CHOICES,
        value=1,
        format_func=lambda n: "every frame" if n == 1 else f"every {n} frames",
        key="video_every",
        help="Fewer frames is faster; the annotated copy still shows every frame.",
    )
    smoothing = right.select_slider(
        "Smoothing",
        SMOOTHING_CHOICES,
        value=5,
        format_func=lambda n: "off (raw)" if n == 1 else f"{n} frames",
        key="video_smoothing",
        help="Averages each person's probabilities over their last classified frames, as in the live video.",
    )
    detector = left.selectbox(
        "Face detector for the video",
        list(DETECTORS),
        index=list(DETECTORS).index("haar"),
        format_func=lambda name: DETECTORS[name],
        key="video_detector",
        help="The Haar cascade keeps up with every frame; MTCNN also finds tilted and half-covered faces but takes "
        "about five times longer per frame.",
    )
    annotate = right.checkbox("Make an annotated copy to watch and download (MP4)", value=True, key="video_annotate")
    st.caption("Each person keeps a number (#1, #2, …) while they stay in view, also when briefly hidden.")
    job: VideoJob | None = st.session_state.get("detector_video_job")
    busy = job is not None and not job.done
    if upload is not None and st.button("Analyse the video", type="primary", disabled=busy, key="video_start"):
        job = VideoJob(
            upload.getvalue(),
            upload.name,
            model,
            ui.get_detector(detector),
            settings=VideoSettings(every=every, smoothing_window=smoothing, detector=settings),
            annotate=annotate,
        ).start()
        st.session_state["detector_video_job"] = job
    if job is None:
        if upload is None:
            st.caption("Tip: a film scene or a recorded talk works; every face gets its own timeline.")
        return
    if not job.done:
        video_progress(job)
    else:
        render_video(job, card)


@st.fragment(run_every=VIDEO_REFRESH_SECONDS)
def video_progress(job: VideoJob) -> None:
    """The progress bar and Stop button; the whole page redraws with the results when the job ends."""
    if job.done:
        st.rerun()
    progress = job.progress
    st.progress(progress.fraction if progress else 0.0, text=video_progress_text(progress))
    if job.stop_requested:
        st.caption("Stopping after this frame…")
    elif st.button("Stop", key="video_stop", help="Stop now and keep the results so far."):
        job.stop()


def render_video(job: VideoJob, card: ModelCard) -> None:
    """Everything found in the clip: summary, annotated copy, people, timelines, changes, downloads."""
    if job.error:
        st.error(job.error)
        return
    analysis = job.analysis
    assert analysis is not None  # a finished job has either an error or an analysis
    st.success(video_summary(analysis))
    if analysis.stopped:
        done = float(analysis.frames["t"][-1]) if len(analysis.frames) else 0.0
        st.warning(f"Stopped at {done:.1f} s of {analysis.info.duration_s:.1f} s: the results cover the part analysed.")
    if analysis.note:
        st.warning(analysis.note)
    if analysis.variable_frame_rate:
        st.caption("This clip has a variable frame rate: times come from the file's own time stamps.")
    st.caption(model_error_note(card))
    if job.annotated:
        st.video(job.annotated, format="video/mp4")
    people = analysis.people()
    if not people:
        st.info("No face was found in this clip. " + NO_FACE_TIPS.split("\n")[0].lstrip("- "))
    else:
        st.subheader("People")
        st.dataframe(people_table(analysis), hide_index=True)
        st.plotly_chart(figures.shares_figure(people), theme=None, key="video-shares")
        st.subheader("Each person's emotions over time")
        st.caption(f"Smoothed over {analysis.settings.smoothing_window} classified frames, as in the live video.")
        for person in sorted(people, key=lambda p: -p.frames_seen)[:VIDEO_TIMELINES]:
            seconds, probabilities = analysis.timeline(person.id)
            st.markdown(
                f"**Person #{person.id}** — seen {person.first_s:.1f}–{person.last_s:.1f} s, mostly {person.dominant}"
            )
            st.plotly_chart(
                figures.probability_timeline(seconds, probabilities, height=260),
                theme=None,
                key=f"video-timeline-{person.id}",
            )
        if len(people) > VIDEO_TIMELINES:
            st.caption(f"Timelines of the {VIDEO_TIMELINES} people seen longest; the downloads have everyone.")
        changes = changes_table(analysis)
        st.subheader("When the emotion changes")
        if changes.empty:
            st.caption("Nobody's (smoothed) emotion changed during the clip.")
        else:
            st.dataframe(changes, hide_index=True)
    stem = analysis.info.name.rsplit(".", 1)[0]
    columns = st.columns(3)
    columns[0].download_button(
        "Download results (CSV)",
        analysis.csv_text(),
        file_name=f"{stem}_emotions.csv",
        mime="text/csv",
        key="video-csv",
    )
    columns[1].download_button(
        "Download results (JSON)",
        analysis.json_text(),
        file_name=f"{stem}_emotions.json",
        mime="application/json",
        key="video-json",
    )
    if job.annotated:
        columns[2].download_button(
            "Download the annotated video (MP4)",
            job.annotated,
            file_name=f"{stem}_emotions.mp4",
            mime="video/mp4",
            key="video-mp4",
        )


# --------------------------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------------------------

ui.setup_page("Emotion detector", "📷")
st.title("Emotion detector")
st.markdown(
    "Upload photos or a video clip, take a snapshot or turn on your webcam. Every face found is boxed and "
    "labelled with its emotion, numbered left to right; below each photo you see every face as the model sees "
    "it, what drove the prediction, and all seven probabilities."
)
ui.responsible_use_link()
st.info(
    "**Privacy:** photos and live video frames are processed in memory on this server, never written to disk "
    "or logged, and forgotten when you close this tab. An uploaded video file is written to a private temporary "
    "file only while it is analysed (the video decoder reads files) and deleted as soon as the analysis ends; "
    "its results stay in this tab only.",
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

upload_tab, snapshot_tab, video_tab, live_tab = st.tabs(
    ["Upload photos", "Camera snapshot", "Video file", "Live webcam"]
)
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
no_camera = camera_problem(st.context.url)
with snapshot_tab:
    if no_camera:
        st.warning(no_camera)
    st.caption(CAMERA_HELP)
    shot = None if no_camera else st.camera_input("Take a snapshot", key="detector_camera")
    if shot is not None:
        photos_section([("camera snapshot", shot.getvalue())], model, card, options, show_explanations, "camera")
with video_tab:
    video_section(model, card, detector_settings)
with live_tab:
    # Last on the page: while the video plays, this section keeps the script running to poll the buffer.
    if no_camera:
        st.warning(no_camera)
    else:
        st.caption(CAMERA_HELP)
        live_section(model, detector_settings, whole)

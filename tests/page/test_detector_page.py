"""The emotion detector page rendered headless with AppTest: uploads, no-face photos, snapshots, options."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest
from support.data import REPO
from support.photos import astronaut, encode, face_frame, fer_face

from fer_core.constants import EMOTIONS

PAGE = REPO / "pages" / "4_Emotion_detector.py"
#: TensorFlow's import and the first model load take far longer than AppTest's 3-second default.
TIMEOUT = 180


@pytest.fixture
def app(zoo: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """The page, run once, with models from the test zoo."""
    monkeypatch.setenv("FER_MODELS_DIR", str(zoo))
    at = AppTest.from_file(str(PAGE), default_timeout=TIMEOUT).run()
    assert_clean(at)
    return at


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]


def texts(elements: Any) -> list[str]:
    return [str(e.value) for e in elements]


def test_first_view(app: AppTest) -> None:
    assert app.title[0].value.endswith("Emotion detector")
    assert any("never written to disk" in t for t in texts(app.info)), "the privacy note is missing"
    assert app.selectbox(key="detector_model").value in {"cnn", "cnn_basic"}  # the default is a CNN
    assert len(app.file_uploader) == 2 and app.file_uploader[0].accept_multiple_files  # photos, then a video
    assert len(app.camera_input) == 1
    # AppTest has no WebRTC runtime: the live tab must say so instead of failing.
    assert any("Camera snapshot" in t for t in texts(app.warning))


def test_upload_face_photo(app: AppTest) -> None:
    app.file_uploader[0].set_value(("astronaut.png", encode(astronaut()), "image/png")).run()
    assert_clean(app)
    assert len(app.image) >= 3  # the annotated photo, the face as the model sees it, the explanation
    assert len(app.get("plotly_chart")) == 1  # one probability chart for the one face
    faces = [t for t in texts(app.markdown) if t.startswith(("**Face 1:", "Face 1: **not sure**"))]
    assert len(faces) == 1
    table = app.dataframe[0].value
    assert list(table["file"]) == ["astronaut.png"]
    assert table.loc[0, "emotion"] in faces[0]
    probabilities = table[[c for c in table.columns if c.startswith("p_")]].to_numpy()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-3)
    assert len(app.get("download_button")) == 3  # annotated PNG, CSV, JSON
    assert not [t for t in texts(app.warning) if t.startswith("No face found")]


def test_several_photos_and_no_face(app: AppTest) -> None:
    blank = np.full((300, 400, 3), 200, np.uint8)
    app.file_uploader[0].set_value(
        [("astronaut.jpg", encode(astronaut(), ".jpg"), "image/jpeg"), ("wall.png", encode(blank), "image/png")]
    ).run()
    assert_clean(app)
    assert "No face found in wall.png." in texts(app.warning)
    assert any("whole image is one face" in t.lower() for t in texts(app.markdown)), "tips are missing"
    assert [s.value for s in app.subheader][:2] == ["astronaut.jpg", "wall.png"]
    assert list(app.dataframe[0].value["file"]) == ["astronaut.jpg"]


def test_only_a_no_face_photo(app: AppTest) -> None:
    app.file_uploader[0].set_value(("wall.png", encode(np.zeros((200, 200, 3), np.uint8)), "image/png")).run()
    assert_clean(app)
    assert "No face found in wall.png." in texts(app.warning)
    assert not app.dataframe  # no results table without faces


def test_not_an_image(app: AppTest) -> None:
    app.file_uploader[0].set_value(("notes.png", b"this is not a picture", "image/png")).run()
    assert_clean(app)
    assert any(t.startswith("notes.png:") for t in texts(app.error))


def test_camera_snapshot(app: AppTest) -> None:
    app.camera_input[0].set_value(("snapshot.jpg", encode(face_frame(), ".jpg"), "image/jpeg")).run()
    assert_clean(app)
    assert "camera snapshot" in [s.value for s in app.subheader]
    assert len(app.get("plotly_chart")) == 1
    assert list(app.dataframe[0].value["file"]) == ["camera snapshot"]


def test_a_tilted_face_is_found_and_answers_say_when_they_are_not_sure(app: AppTest) -> None:
    rgb = astronaut()
    tilted = cv2.warpAffine(rgb, cv2.getRotationMatrix2D((256, 256), -35, 1.0), (512, 512), borderValue=(128,) * 3)
    app.file_uploader[0].set_value(("tilted.png", encode(tilted), "image/png")).run()
    assert_clean(app)
    assert not [t for t in texts(app.warning) if t.startswith("No face found")]
    table = app.dataframe[0].value
    assert len(table) == 1 and list(table["file"]) == ["tilted.png"]
    heading = next(t for t in texts(app.markdown) if t.startswith(("**Face 1:", "Face 1:")))
    # The tiny test models are weak: whether this one is sure or not, the heading must agree with the table.
    if heading.startswith("Face 1: **not sure**"):
        assert f"perhaps {table.loc[0, 'emotion']}" in heading and bool(table.loc[0, "not_sure"])
    else:
        assert table.loc[0, "emotion"] in heading and not table.loc[0, "not_sure"]
    assert any("wrong on about" in t for t in texts(app.caption))  # how often the model is wrong
    # The Haar cascade, for comparison, misses a face tilted this far.
    app.selectbox(key="detector_kind").set_value("haar").run()
    assert any(t.startswith("No face found in tilted.png") for t in texts(app.warning))


def test_whole_image_option_with_a_fer_face(app: AppTest) -> None:
    face = np.repeat(fer_face(0, "happy")[..., None], 3, axis=2)  # a 48x48 crop: too small for the Haar cascade
    app.selectbox(key="detector_kind").set_value("haar").run()
    app.file_uploader[0].set_value(("fer.png", encode(face), "image/png")).run()
    assert "No face found in fer.png." in texts(app.warning)
    app.checkbox(key="detector_whole_image").check().run()
    assert_clean(app)
    table = app.dataframe[0].value
    assert (table.loc[0, "width"], table.loc[0, "height"]) == (48, 48)


@pytest.mark.parametrize("model_name", ["random_forest", "logreg", "mlp"])
def test_other_models_and_their_explanations(app: AppTest, model_name: str) -> None:
    app.selectbox(key="detector_model").set_value(model_name).run()
    app.file_uploader[0].set_value(("astronaut.png", encode(astronaut()), "image/png")).run()
    assert_clean(app)
    assert len(app.image) >= 3
    captions = " ".join(c for image in app.image for c in image.captions)
    expected = {"random_forest": "importance", "logreg": "contribution", "mlp": "saliency"}[model_name]
    assert expected in captions.lower()


def test_no_trained_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FER_MODELS_DIR", str(tmp_path))
    at = AppTest.from_file(str(PAGE), default_timeout=TIMEOUT).run()
    assert_clean(at)
    assert any("No trained model" in t for t in texts(at.warning))
    assert not at.file_uploader


# --------------------------------------------------------------------------------------------
# The Video file tab
# --------------------------------------------------------------------------------------------


def video_uploader(app: AppTest) -> Any:
    return next(u for u in app.file_uploader if u.label.startswith("A video clip"))


def analyse_clip(app: AppTest, name: str, data: bytes) -> Any:
    """Upload a clip, press Analyse, wait for the background job and redraw; return the job."""
    video_uploader(app).set_value((name, data, "video/mp4")).run()
    assert_clean(app)
    app.button(key="video_start").click().run()
    job = app.session_state["detector_video_job"]
    assert job.wait(120), "the video analysis did not finish"
    app.run()
    assert_clean(app)
    return job


def test_video_file_tab(app: AppTest, tmp_path: Path) -> None:
    from benchmarks.clips import crossing_heads, write_clip

    frames, _ = crossing_heads(30, 800, 480, 220)
    clip = write_clip(tmp_path / "two_people.mp4", frames)
    job = analyse_clip(app, "two_people.mp4", clip.read_bytes())
    summary = texts(app.success)[0]
    assert summary.startswith("two_people.mp4: 30 frames (800×480, 15.0 fps), 30 classified (every frame)")
    assert "people seen" in summary
    people = app.dataframe[0].value
    assert {"#1", "#2"} <= set(people["person"]) and set(EMOTIONS) <= set(people.columns)
    charts = app.get("plotly_chart")
    assert len(charts) >= 3  # the shares, and a timeline for each of the two people
    assert [b.label for b in app.get("download_button")] == [
        "Download results (CSV)",
        "Download results (JSON)",
        "Download the annotated video (MP4)",
    ]
    assert len(app.get("video")) == 1  # the annotated copy, in the page
    assert job.temp_folder is not None and not job.temp_folder.exists(), "the upload's temporary file must go"


def test_video_tab_bad_file_is_one_sentence(app: AppTest) -> None:
    analyse_clip(app, "holiday.mp4", b"this is not a video" * 100)
    errors = texts(app.error)
    assert errors == [
        "holiday.mp4 is not a video file we can read (it may be damaged, cut short, or another kind of file "
        "renamed). Try MP4, MOV, WebM, AVI or MKV."
    ]
    # The page goes on working: the photo tab still analyses a photo.
    app.file_uploader[0].set_value(("astronaut.png", encode(astronaut()), "image/png")).run()
    assert_clean(app)
    assert len(app.dataframe) == 1


def test_every_model_on_one_face(app: AppTest) -> None:
    app.toggle(key="detector_all_models").set_value(True).run()
    app.file_uploader[0].set_value(("astronaut.png", encode(astronaut()), "image/png")).run()
    assert_clean(app)
    table = next(d.value for d in app.dataframe if "kind" in d.value.columns)
    assert len(table) == 7  # every model of the test zoo, from one detection
    assert set(table["kind"]) == {"classic ML", "deep learning"}
    assert set(table["answer"]) <= set(EMOTIONS)
    note = next(t for t in texts(app.markdown) if t.startswith(("All 7 models say", "The models disagree")))
    if note.startswith("The models disagree"):
        assert "classic ML models say" in note and "deep learning models say" in note
    assert len(app.get("plotly_chart")) == 2  # the chosen model's bars and every model's heatmap

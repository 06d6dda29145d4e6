"""Video files: tracking ids, the frame-by-frame analysis, its CSV / JSON, bad files, the background job, the CLI.

Every clip is synthesised here from scikit-image's astronaut (tests/support/clips.py). The face
detector is the real Haar cascade; the emotion model is a stand-in whose answer depends on how
bright the face is, so an "expression change" can be staged and checked exactly.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from support.data import REPO

from benchmarks.clips import brightening_head, crossing_heads, moving_head, write_clip
from fer_core.constants import EMOTIONS, NUM_CLASSES
from fer_core.faces import FaceDetector
from fer_core.models import FerModel, get_spec
from fer_core.tracking import FaceTracker
from fer_core.video import (
    VideoError,
    VideoJob,
    VideoLimits,
    VideoSettings,
    analyse_video,
    probe_video,
)

av = pytest.importorskip("av", reason="PyAV encodes the synthetic clips")
pytest.importorskip("skimage", reason="scikit-image (a test dependency) provides the face in the clips")


class BrightnessModel(FerModel):
    """Stand-in model: a bright face is "happy", a dark one "sad" (each with probability 0.9)."""

    def __init__(self) -> None:
        super().__init__(get_spec("cnn_basic"))

    def _predict_proba(self, x: np.ndarray) -> np.ndarray:
        out = np.full((len(x), NUM_CLASSES), 0.1 / (NUM_CLASSES - 1), np.float32)
        bright = x.reshape(len(x), -1).mean(axis=1) > 110
        out[np.arange(len(x)), np.where(bright, EMOTIONS.index("happy"), EMOTIONS.index("sad"))] = 0.9
        return out


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    frames, _ = crossing_heads(60, 800, 480, 220)
    return {
        "moving": write_clip(folder / "moving.mp4", moving_head(45, 640, 480, 220)),
        "crossing": write_clip(folder / "crossing.mp4", frames),
        "brightening": write_clip(folder / "brightening.mkv", brightening_head(40, 640, 480, 220)),
    }


@pytest.fixture(scope="module")
def haar() -> FaceDetector:
    return FaceDetector()


def box(cx: float, cy: float = 100, size: int = 60) -> tuple[int, int, int, int]:
    return (int(cx - size / 2), int(cy - size / 2), size, size)


def rows(n: int) -> np.ndarray:
    return np.full((n, NUM_CLASSES), 1 / NUM_CLASSES)


class TestTracker:
    def test_a_moving_face_keeps_its_id(self) -> None:
        tracker = FaceTracker()
        ids = [tracker.update([box(50 + 20 * i)], rows(1))[0] for i in range(10)]
        assert ids == [[1]] * 10

    def test_a_face_hidden_for_a_few_frames_comes_back_with_its_id(self) -> None:
        tracker = FaceTracker(max_missed=5)
        for i in range(5):
            tracker.update([box(50 + 20 * i)], rows(1))
        for _ in range(3):  # hidden: the detector finds nothing
            assert tracker.update([], rows(0))[0] == []
        # Back, further along the way it was going.
        assert tracker.update([box(50 + 20 * 8)], rows(1))[0] == [1]

    def test_two_faces_crossing_keep_their_ids(self) -> None:
        tracker = FaceTracker()
        seen = []
        for i in range(21):
            a, b = 50 + 15 * i, 350 - 15 * i  # they meet at i = 10
            faces = [box(a)] if 8 <= i <= 12 else [box(a), box(b)]  # one hides the other while they pass
            ids, _ = tracker.update(faces, rows(len(faces)))
            seen.append(ids)
        assert seen[0] == [1, 2]
        assert seen[-1] == [1, 2], "after crossing, the face that came from the left must still be #1"

    def test_forgotten_after_max_missed_frames(self) -> None:
        tracker = FaceTracker(max_missed=2)
        tracker.update([box(50)], rows(1))
        for _ in range(3):
            tracker.update([], rows(0))
        assert tracker.update([box(50)], rows(1))[0] == [2]

    def test_smoothing_is_a_moving_average_per_person(self) -> None:
        tracker = FaceTracker(window=2)
        happy, sad = np.eye(NUM_CLASSES)[EMOTIONS.index("happy")], np.eye(NUM_CLASSES)[EMOTIONS.index("sad")]
        tracker.update([box(50), box(300)], np.stack([happy, sad]))
        _, smoothed = tracker.update([box(300), box(52)], np.stack([happy, happy]))
        np.testing.assert_allclose(smoothed[0], (sad + happy) / 2)  # the right face: sad then happy
        np.testing.assert_allclose(smoothed[1], happy)  # the left face: happy twice


class TestFastPaths:
    """What makes a clip fast: grey straight from the decoder, the model on its own thread, checked settings."""

    def test_grey_from_the_luma_plane_matches_rgb_then_grey(self) -> None:
        import cv2

        from fer_core.video import grey_of

        rgb = next(iter(moving_head(1, 320, 240, 120)))
        yuv = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
        reference = cv2.cvtColor(yuv.to_ndarray(format="rgb24"), cv2.COLOR_RGB2GRAY).astype(int)
        grey = grey_of(yuv)
        assert grey.shape == (240, 320) and grey.dtype == np.uint8
        assert np.abs(grey - reference).mean() < 1.0  # video range stretched back to 0-255
        full_range = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuvj420p")
        assert np.abs(grey_of(full_range).astype(int) - reference).mean() < 1.5
        packed = av.VideoFrame.from_ndarray(rgb, format="rgb24")  # not YUV: FFmpeg converts it
        np.testing.assert_array_equal(grey_of(packed), packed.to_ndarray(format="gray"))

    def test_a_model_error_reaches_the_caller_and_its_thread_ends(
        self, clips: dict[str, Path], haar: FaceDetector
    ) -> None:
        import threading

        class Broken(BrightnessModel):
            def _predict_proba(self, x: np.ndarray) -> np.ndarray:
                raise RuntimeError("the model broke")

        with pytest.raises(RuntimeError, match="the model broke"):
            analyse_video(clips["moving"], Broken(), haar)
        assert not [t for t in threading.enumerate() if t.name.startswith("fer-video-model")]

    def test_results_do_not_depend_on_how_frames_are_batched(
        self, clips: dict[str, Path], haar: FaceDetector, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from fer_core.video import _Pipeline

        batched = analyse_video(clips["crossing"], BrightnessModel(), haar)
        monkeypatch.setattr(_Pipeline, "BATCH_FRAMES", 1)
        one_by_one = analyse_video(clips["crossing"], BrightnessModel(), haar)
        np.testing.assert_array_equal(batched.faces, one_by_one.faces)

    def test_bad_settings(self) -> None:
        with pytest.raises(ValueError, match="positive interval"):
            VideoSettings(full_detection_seconds=0)


class TestAnalysis:
    def test_one_moving_face_is_one_person_seen_in_most_frames(
        self, clips: dict[str, Path], haar: FaceDetector
    ) -> None:
        analysis = analyse_video(clips["moving"], BrightnessModel(), haar)
        assert analysis.frames_decoded == 45 and len(analysis.frames) == 45
        assert analysis.info.width == 640 and analysis.info.fps == pytest.approx(15)
        people = analysis.people()
        assert people[0].id == 1 and people[0].frames_seen >= 0.8 * 45
        assert sum(p.frames_seen for p in people[1:]) <= 3  # no second person of any weight
        assert not analysis.stopped and analysis.note is None
        np.testing.assert_allclose(analysis.frames["t"][:3], [0, 1 / 15, 2 / 15], atol=1e-6)

    def test_two_people_crossing_keep_their_ids(self, clips: dict[str, Path], haar: FaceDetector) -> None:
        frames, centres = crossing_heads(60, 800, 480, 220)
        analysis = analyse_video(clips["crossing"], BrightnessModel(), haar)
        faces = analysis.faces

        def id_near(frame: int, x: float) -> int | None:
            here = faces[faces["frame"] == frame]
            if not len(here):
                return None
            centre = here["box"][:, 0] + here["box"][:, 2] / 2
            nearest = int(np.argmin(np.abs(centre - x)))
            return int(here["id"][nearest]) if abs(centre[nearest] - x) < 60 else None

        start = {id_near(0, centres[0][0]), id_near(0, centres[0][1])}
        assert start == {1, 2}
        left_id = id_near(0, centres[0][0])
        late = [id_near(f, centres[f][0]) for f in range(50, 60)]
        late = [i for i in late if i is not None]
        assert len(late) >= 5 and all(i == left_id for i in late), (left_id, late)

    def test_an_expression_change_is_found_and_smoothed(self, clips: dict[str, Path], haar: FaceDetector) -> None:
        analysis = analyse_video(
            clips["brightening"], BrightnessModel(), haar, settings=VideoSettings(smoothing_window=5)
        )
        changes = analysis.changes()
        assert [(c["id"], c["from"], c["to"]) for c in changes] == [(1, "sad", "happy")]
        # Raw answers turn at frame 20; the 5-frame average turns once 3 of 5 frames are happy.
        assert 21 <= changes[0]["frame"] <= 23
        person = analysis.people()[0]
        assert person.dominant in {"sad", "happy"}
        assert person.emotion_shares["sad"] + person.emotion_shares["happy"] == pytest.approx(1.0)

    def test_csv_has_a_row_per_face_with_every_probability(self, clips: dict[str, Path], haar: FaceDetector) -> None:
        analysis = analyse_video(clips["brightening"], BrightnessModel(), haar)
        table = list(csv.DictReader(io.StringIO(analysis.csv_text())))
        assert len(table) == len(analysis.faces) > 30
        expected = ["t_seconds", "frame", "person_id", "x", "y", "w", "h", "emotion", "confidence"]
        assert list(table[0])[: len(expected)] == expected
        assert list(table[0])[-1] == "smoothed_emotion"
        assert [c for c in table[0] if c.startswith("p_")] == [f"p_{e}" for e in EMOTIONS]
        first = table[0]
        assert first["emotion"] == "sad" and float(first["p_sad"]) == pytest.approx(0.9, abs=1e-3)
        assert sum(float(first[f"p_{e}"]) for e in EMOTIONS) == pytest.approx(1.0, abs=1e-3)

    def test_json_shape(self, clips: dict[str, Path], haar: FaceDetector) -> None:
        analysis = analyse_video(clips["moving"], BrightnessModel(), haar, settings=VideoSettings(every=3))
        data = json.loads(analysis.json_text())
        assert {"path", "fps", "frames", "duration_s", "people"} <= set(data)
        assert data["path"] == "moving.mp4" and data["frame_count"] == 45
        assert len(data["frames"]) == 15  # every third frame of 45
        assert [f["index"] for f in data["frames"][:3]] == [0, 3, 6]
        assert {"id", "frames_seen", "emotion_shares"} <= set(data["people"][0])
        face = next(f for frame in data["frames"] for f in frame["faces"])
        assert {"id", "box", "emotion", "confidence", "probabilities"} <= set(face)
        assert set(face["probabilities"]) == set(EMOTIONS) and len(face["box"]) == 4

    def test_annotated_copy_has_every_frame_in_h264(
        self, clips: dict[str, Path], haar: FaceDetector, tmp_path: Path
    ) -> None:
        out = tmp_path / "annotated.mp4"
        analyse_video(clips["moving"], BrightnessModel(), haar, settings=VideoSettings(every=5), annotated_path=out)
        with av.open(str(out)) as container:
            stream = container.streams.video[0]
            assert stream.codec_context.name == "h264"
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        assert len(frames) == 45 and frames[0].shape == (480, 640, 3)
        # The boxes are drawn: the annotated frame differs from the plain one around the face.
        plain = next(moving_head(45, 640, 480, 220))
        assert np.abs(frames[0].astype(int) - plain.astype(int)).mean() > 1.0

    def test_variable_frame_rate_times_come_from_the_file(self, tmp_path: Path, haar: FaceDetector) -> None:
        stamps = [0.0, 0.05, 0.3, 0.35, 0.9, 0.95, 1.0, 1.6, 1.65, 2.4]
        clip = write_clip(tmp_path / "vfr.mkv", moving_head(10, 640, 480, 220), times=lambda i: stamps[i])
        analysis = analyse_video(clip, BrightnessModel(), haar)
        np.testing.assert_allclose(analysis.frames["t"], stamps, atol=2e-3)
        assert analysis.variable_frame_rate

    def test_stop_keeps_what_was_done(self, clips: dict[str, Path], haar: FaceDetector) -> None:
        done = []
        analysis = analyse_video(
            clips["moving"],
            BrightnessModel(),
            haar,
            on_progress=lambda p: done.append(p.frames_done),
            should_stop=lambda: bool(done) and done[-1] >= 20,
        )
        assert analysis.stopped and analysis.frames_decoded == 20 and len(analysis.frames) == 20
        assert json.loads(analysis.json_text())["complete"] is False


def zero_frame_clip(path: Path, codec: str = "mpeg4") -> Path:
    """A file with a video track and no frames in it."""
    container = av.open(str(path), "w")
    stream = container.add_stream(codec, rate=15)
    stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
    container.start_encoding()
    container.close()
    return path


def audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=44100)
        for i in range(5):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 44100, i * 1024
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def unknown_codec(path: Path) -> Path:
    """An AVI whose codec tag is changed to one no decoder knows."""
    clip = write_clip(path, moving_head(5, 64, 64, 32), codec="mpeg4")
    data = clip.read_bytes()
    for tag in (b"FMP4", b"fmp4"):
        data = data.replace(tag, b"ZZZZ")
    clip.write_bytes(data)
    return clip


class TestBadFiles:
    @pytest.mark.parametrize(
        ("make", "message"),
        [
            (lambda p: (p / "notes.mp4").write_text("not a video\n" * 50) and p / "notes.mp4", "not a video file"),
            (lambda p: (p / "empty.mp4").write_bytes(b"") == 0 and p / "empty.mp4", "is empty"),
            (lambda p: audio_only(p / "song.m4a"), r"no video track \(it has sound only\)"),
            (lambda p: zero_frame_clip(p / "nothing.avi"), "0 frames"),
            (
                lambda p: zero_frame_clip(p / "nothing.mp4", "libx264"),
                "nothing.mp4 (has no video track|is not a video)",
            ),
            (lambda p: unknown_codec(p / "odd.avi"), "cannot decode"),
            (lambda p: (p / "photo.mp4").write_bytes(_png()) and p / "photo.mp4", "still picture"),
            (lambda p: p / "missing.mp4", "no such file"),
        ],
        ids=[
            "renamed-text",
            "empty",
            "audio-only",
            "zero-frames",
            "zero-frames-mp4",
            "unknown-codec",
            "renamed-picture",
            "missing",
        ],
    )
    def test_one_clear_sentence(self, tmp_path: Path, haar: FaceDetector, make, message: str) -> None:  # noqa: ANN001
        path = make(tmp_path)
        with pytest.raises(VideoError, match=message) as caught:
            analyse_video(path, BrightnessModel(), haar)
        assert "\n" not in str(caught.value) and path.name in str(caught.value)

    def test_huge_resolution_is_refused_before_decoding(self, tmp_path: Path) -> None:
        clip = write_clip(tmp_path / "huge.mp4", [np.zeros((2400, 4000, 3), np.uint8)], codec="mpeg4")
        with pytest.raises(VideoError, match="4000×2400 pixels; the largest accepted is 4K"):
            probe_video(clip)

    def test_too_long_and_too_big(self, clips: dict[str, Path]) -> None:
        with pytest.raises(VideoError, match="the longest clip accepted is"):
            probe_video(clips["moving"], VideoLimits(max_seconds=1.0))
        with pytest.raises(VideoError, match="the largest clip accepted here is"):
            probe_video(clips["moving"], VideoLimits(max_bytes=1000))

    def test_a_clip_cut_short_gives_the_part_before(self, tmp_path: Path, haar: FaceDetector) -> None:
        whole = write_clip(tmp_path / "whole.mkv", moving_head(90, 640, 480, 220))
        cut = tmp_path / "cut.mkv"
        cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
        analysis = analyse_video(cut, BrightnessModel(), haar)
        assert 10 < analysis.frames_decoded < 90
        assert analysis.note is not None and "cut short" in analysis.note


def _png() -> bytes:
    from support.photos import encode

    return encode(np.zeros((40, 40, 3), np.uint8))


class TestJob:
    def test_runs_in_the_background_and_deletes_its_temporary_file(
        self, clips: dict[str, Path], haar: FaceDetector
    ) -> None:
        job = VideoJob(clips["moving"].read_bytes(), "moving.mp4", BrightnessModel(), haar).start()
        assert job.wait(120)
        assert job.error is None and job.analysis is not None and job.analysis.frames_decoded == 45
        assert job.annotated is not None and job.annotated[4:8] == b"ftyp"  # an MP4 kept in memory
        assert job.temp_folder is not None and not job.temp_folder.exists()
        assert job.progress is not None and job.progress.fraction == pytest.approx(1.0, abs=0.05)

    def test_stop(self, clips: dict[str, Path], haar: FaceDetector) -> None:
        job = VideoJob(clips["crossing"].read_bytes(), "crossing.mp4", BrightnessModel(), haar)
        job.stop()  # asked before the first frame: nothing analysed, nothing lost, no error
        job.start().wait(60)
        assert job.error is None and job.analysis is not None and job.analysis.stopped

    def test_a_bad_file_is_an_error_sentence_and_is_deleted(self, haar: FaceDetector) -> None:
        job = VideoJob(b"hello" * 100, "clip.mp4", BrightnessModel(), haar).start()
        assert job.wait(30)
        assert job.analysis is None and job.error is not None and job.error.startswith("clip.mp4 is not a video")
        assert job.temp_folder is not None and not job.temp_folder.exists()


class TestCli:
    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "fer_core", "video", *args], capture_output=True, text=True, cwd=REPO, timeout=300
        )

    def test_bad_input_is_exit_2_and_one_line(self, tmp_path: Path) -> None:
        text = tmp_path / "notes.mp4"
        text.write_text("not a video")
        result = self.run(str(text), "--json")
        assert result.returncode == 2 and result.stdout == ""
        assert result.stderr.strip().count("\n") == 0 and "is not a video file we can read" in result.stderr

    def test_every_must_be_positive(self, clips: dict[str, Path]) -> None:
        result = self.run(str(clips["moving"]), "--every", "0")
        assert result.returncode == 2 and "--every must be 1 or more" in result.stderr

    def test_json_csv_and_annotated(self, clips: dict[str, Path], zoo: Path, tmp_path: Path) -> None:
        out_csv, out_mp4 = tmp_path / "faces.csv", tmp_path / "faces.mp4"
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "fer_core",
                "video",
                str(clips["moving"]),
                "--every",
                "5",
                "--model",
                "cnn_basic",
                "--csv",
                str(out_csv),
                "--annotated",
                str(out_mp4),
                "--json",
            ],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=300,
            env={**__import__("os").environ, "FER_MODELS_DIR": str(zoo)},
        )
        assert result.returncode == 0, result.stderr
        data = json.loads(result.stdout)
        assert data["fps"] == pytest.approx(15) and len(data["frames"]) == 9
        assert data["people"] and data["people"][0]["id"] == 1
        assert out_csv.read_text().startswith("t_seconds,frame,person_id")
        assert out_mp4.stat().st_size > 1000

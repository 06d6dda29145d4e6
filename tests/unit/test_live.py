"""Unit tests for fer_core.live: the webrtc frame callback, probability smoothing, FPS and the buffer."""

from __future__ import annotations

import threading
from fractions import Fraction

import numpy as np
import pytest
from support.data import REPO
from support.photos import face_frame

from fer_core.constants import EMOTIONS, NUM_CLASSES
from fer_core.faces import DetectorSettings
from fer_core.live import (
    LiveBuffer,
    LiveProcessor,
    LiveSettings,
    ProbabilitySmoother,
    TimelinePoint,
    box_iou,
    timeline_csv,
)
from fer_core.models import FerModel, get_spec

av = pytest.importorskip("av", reason="PyAV builds the synthetic video frames")


class FixedModel(FerModel):
    """A stand-in model that returns a queue of fixed probability rows, one per face, in order."""

    def __init__(self, rows: list[list[float]] | None = None) -> None:
        super().__init__(get_spec("cnn_basic"))
        self.rows = [np.asarray(r, dtype=np.float32) for r in (rows or [])]
        self.calls = 0

    def _predict_proba(self, x: np.ndarray) -> np.ndarray:
        self.calls += 1
        if self.rows:
            return np.stack([self.rows.pop(0) for _ in range(len(x))])
        out = np.zeros((len(x), NUM_CLASSES), np.float32)
        out[:, EMOTIONS.index("happy")] = 1.0
        return out


class FakeClock:
    """A clock that stands still until the test advances it."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def one_hot(emotion: str) -> list[float]:
    row = [0.0] * NUM_CLASSES
    row[EMOTIONS.index(emotion)] = 1.0
    return row


def video_frame(rgb: np.ndarray, pts: int = 0) -> av.VideoFrame:
    """A frame like the ones WebRTC delivers (a 90 kHz clock)."""
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
    frame.pts = pts
    frame.time_base = Fraction(1, 90000)
    return frame


class TestSmoother:
    def test_window_one_is_raw(self) -> None:
        smoother = ProbabilitySmoother(window=1)
        box = (10, 10, 50, 50)
        for emotion in ("happy", "sad", "angry"):
            out = smoother.update([box], np.array([one_hot(emotion)]))
            np.testing.assert_allclose(out[0], one_hot(emotion))

    def test_moving_average_over_window(self) -> None:
        smoother = ProbabilitySmoother(window=3)
        box = (10, 10, 50, 50)
        rows = [one_hot("happy"), one_hot("sad"), one_hot("sad"), one_hot("angry")]
        outputs = [smoother.update([box], np.array([r]))[0] for r in rows]
        np.testing.assert_allclose(outputs[0], one_hot("happy"))
        np.testing.assert_allclose(outputs[1], np.mean([one_hot("happy"), one_hot("sad")], axis=0))
        np.testing.assert_allclose(outputs[2], np.mean(rows[:3], axis=0))
        np.testing.assert_allclose(outputs[3], np.mean(rows[1:4], axis=0))  # the oldest frame left the window

    def test_two_faces_keep_separate_histories(self) -> None:
        smoother = ProbabilitySmoother(window=5)
        left, right = (0, 0, 40, 40), (200, 0, 40, 40)
        smoother.update([left, right], np.array([one_hot("happy"), one_hot("sad")]))
        # The right face moved a little and is listed first: it must still be matched to its own history.
        out = smoother.update([(203, 2, 40, 40), left], np.array([one_hot("sad"), one_hot("happy")]))
        np.testing.assert_allclose(out[0], one_hot("sad"))
        np.testing.assert_allclose(out[1], one_hot("happy"))

    def test_new_face_far_away_starts_fresh(self) -> None:
        smoother = ProbabilitySmoother(window=5)
        smoother.update([(0, 0, 40, 40)], np.array([one_hot("happy")]))
        out = smoother.update([(300, 300, 40, 40)], np.array([one_hot("angry")]))
        np.testing.assert_allclose(out[0], one_hot("angry"))

    def test_shrinking_the_window_trims_history(self) -> None:
        smoother = ProbabilitySmoother(window=4)
        box = (0, 0, 40, 40)
        for emotion in ("happy", "happy", "happy"):
            smoother.update([box], np.array([one_hot(emotion)]))
        smoother.set_window(1)
        np.testing.assert_allclose(smoother.update([box], np.array([one_hot("sad")]))[0], one_hot("sad"))

    def test_no_faces(self) -> None:
        assert ProbabilitySmoother(3).update([], np.zeros((0, NUM_CLASSES))).shape == (0, NUM_CLASSES)

    @pytest.mark.parametrize("window", [0, -2])
    def test_bad_window(self, window: int) -> None:
        with pytest.raises(ValueError, match="at least 1 frame"):
            ProbabilitySmoother(window)
        with pytest.raises(ValueError, match="at least 1 frame"):
            LiveSettings(smoothing_window=window)

    def test_iou(self) -> None:
        assert box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
        assert box_iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0
        assert box_iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)


class TestFrameCallback:
    def test_returns_annotated_frame_of_same_size(self) -> None:
        rgb = face_frame(640, 480)
        processor = LiveProcessor(FixedModel())
        frame = video_frame(rgb, pts=1234)
        out = processor(frame)
        assert isinstance(out, av.VideoFrame)
        assert (out.width, out.height) == (640, 480)
        assert out.pts == 1234 and out.time_base == Fraction(1, 90000)
        annotated = out.to_ndarray(format="rgb24")
        assert annotated.shape == rgb.shape
        assert not np.array_equal(annotated, rgb)  # boxes, labels and the FPS line were drawn
        snapshot = processor.buffer.snapshot()
        assert snapshot.error is None
        assert snapshot.n_faces == 1
        assert snapshot.largest is not None and snapshot.largest.emotion == "happy"
        # Detection ran on a smaller copy; the box must still be in the full frame's coordinates,
        # on the astronaut's face (her photo fills x 170-470, y 90-390 of the frame).
        x, y, w, h = snapshot.largest.box
        assert 170 < x + w / 2 < 470 and 90 < y + h / 2 < 390 and w > 60

    def test_frame_without_faces_is_returned_unharmed(self) -> None:
        rgb = np.full((240, 320, 3), 90, np.uint8)
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")  # no pts or time base at all
        out = LiveProcessor(FixedModel())(frame).to_ndarray(format="rgb24")
        assert out.shape == rgb.shape
        assert np.array_equal(out[60:], rgb[60:])  # only the status line at the top was drawn

    def test_smoothing_through_the_callback(self) -> None:
        rows = [one_hot("happy"), one_hot("sad"), one_hot("sad")]
        processor = LiveProcessor(FixedModel(rows), settings=LiveSettings(smoothing_window=3))
        frame = video_frame(face_frame())
        for _ in rows:
            processor(frame)
        largest = processor.buffer.snapshot().largest
        assert largest is not None
        assert largest.emotion == "sad"
        assert largest.probabilities["sad"] == pytest.approx(2 / 3, abs=1e-6)
        assert largest.probabilities["happy"] == pytest.approx(1 / 3, abs=1e-6)

    def test_smoothing_off_is_raw(self) -> None:
        rows = [one_hot("happy"), one_hot("sad")]
        processor = LiveProcessor(FixedModel(rows), settings=LiveSettings(smoothing_window=1))
        for _ in rows:
            processor(video_frame(face_frame()))
        assert processor.buffer.snapshot().largest.probabilities["sad"] == pytest.approx(1.0)

    def test_fps_and_timeline(self) -> None:
        clock = FakeClock()
        processor = LiveProcessor(FixedModel(), clock=clock)
        for i in range(6):
            processor(video_frame(face_frame(), pts=i))
            clock.now += 0.1
        snapshot = processor.buffer.snapshot()
        assert snapshot.frames == 6
        assert snapshot.fps == pytest.approx(10.0)
        assert len(snapshot.timeline) == 6
        assert [round(p.seconds, 3) for p in snapshot.timeline] == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
        text = timeline_csv(snapshot.timeline)
        assert text.splitlines()[0].startswith("seconds,emotion,confidence,p_angry")
        assert len(text.splitlines()) == 7

    def test_errors_are_reported_not_raised(self) -> None:
        class Broken(FixedModel):
            def _predict_proba(self, x: np.ndarray) -> np.ndarray:
                raise RuntimeError("boom")

        rgb = face_frame()
        processor = LiveProcessor(Broken())
        out = processor(video_frame(rgb))
        assert np.array_equal(out.to_ndarray(format="rgb24"), rgb)  # the frame goes through untouched
        assert "RuntimeError: boom" in processor.buffer.snapshot().error

    def test_configure_and_reset(self) -> None:
        processor = LiveProcessor(FixedModel())
        processor(video_frame(face_frame()))
        processor.configure(smoothing_window=10, detector=DetectorSettings(min_neighbors=3), whole_image=True)
        assert processor.settings.smoothing_window == 10 and processor.settings.whole_image
        out = processor(video_frame(face_frame()))
        assert out.width == 640
        assert processor.buffer.snapshot().largest.box == (0, 0, 640, 480)  # whole image is one face
        processor.reset()
        assert processor.buffer.snapshot().frames == 0 and not processor.buffer.snapshot().timeline

    def test_max_faces_keeps_the_largest(self) -> None:
        canvas = np.full((480, 1280, 3), 128, np.uint8)
        small = face_frame(320, 320)[10:310, 10:310]
        canvas[90:390, 100:400] = small
        canvas[90:390, 800:1100] = small
        _, faces = LiveProcessor(FixedModel()).process(canvas)
        assert len(faces) == 2
        _, faces = LiveProcessor(FixedModel(), settings=LiveSettings(max_faces=1)).process(canvas)
        assert len(faces) == 1


class TestBuffer:
    def test_threads_write_while_page_reads(self) -> None:
        buffer = LiveBuffer(max_points=50)
        point = TimelinePoint(0.0, "happy", 1.0, dict.fromkeys(EMOTIONS, 0.0))

        def writer() -> None:
            for _ in range(500):
                buffer.record(fps=10.0, milliseconds=5.0, faces=[], point=point)

        threads = [threading.Thread(target=writer) for _ in range(4)]
        for thread in threads:
            thread.start()
        for _ in range(200):
            snapshot = buffer.snapshot()
            assert len(snapshot.timeline) <= 50
        for thread in threads:
            thread.join()
        assert buffer.snapshot().frames == 2000
        assert len(buffer.snapshot().timeline) == 50


def test_webrtc_imports_safely_after_tensorflow() -> None:
    """Importing streamlit-webrtc after TensorFlow used to kill the process (libsrtp bound TensorFlow's HMAC)."""
    import subprocess
    import sys

    code = (
        "import tensorflow\n"
        "from fer_ui.process import prepare_process\n"
        "prepare_process()\n"
        "import streamlit_webrtc, pylibsrtp\n"
        "key = bytes(range(30))\n"
        "tx = pylibsrtp.Session(policy=pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND))\n"
        "rx = pylibsrtp.Session(policy=pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND))\n"
        "packet = bytes.fromhex('8008000100000001deadbeef') + bytes(50)\n"
        "assert rx.unprotect(tx.protect(packet)) == packet\n"
        "print('srtp ok')\n"
    )
    env = {"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "srtp ok" in result.stdout


class TestTracking:
    """Between whole-frame detections, faces are looked for only near where they were."""

    @staticmethod
    def moving_frames(n: int, step: int = 4) -> list[np.ndarray]:
        return [np.roll(face_frame(), shift=i * step, axis=1) for i in range(n)]

    def test_detect_near_follows_a_face_and_misses_an_empty_region(self) -> None:
        from fer_core.faces import FaceDetector, to_grey

        detector = FaceDetector()
        grey = to_grey(face_frame())
        (box,) = detector.detect(grey)
        moved = np.roll(grey, 6, axis=1)
        near = detector.detect_near(moved, box)
        assert near is not None and box_iou(near, (box[0] + 6, *box[1:])) > 0.6
        assert detector.detect_near(grey, (10, 10, 60, 60)) is None  # grey background, no face there

    def test_full_detection_every_n_frames_and_boxes_follow(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import fer_core.live as live

        calls = []
        real = live.find_faces
        monkeypatch.setattr(live, "find_faces", lambda *a, **k: calls.append(1) or real(*a, **k))
        tracked = LiveProcessor(FixedModel(), settings=LiveSettings(full_detection_every=5))
        reference = LiveProcessor(FixedModel(), settings=LiveSettings(full_detection_every=1))
        for frame in self.moving_frames(10):
            _, faces = tracked.process(frame)
            before = len(calls)
            _, expected = reference.process(frame)
            assert len(calls) == before + 1  # the reference detects in every frame
            assert len(faces) == 1 and box_iou(faces[0].box, expected[0].box) > 0.5
        assert len(calls) - 10 == 2  # the tracked processor: frames 1 and 6 only

    def test_a_face_that_leaves_triggers_a_full_detection(self) -> None:
        processor = LiveProcessor(FixedModel(), settings=LiveSettings(full_detection_every=30))
        assert len(processor.process(face_frame())[1]) == 1
        empty = np.full_like(face_frame(), 128)
        assert processor.process(empty)[1] == []
        assert len(processor.process(face_frame())[1]) == 1  # found again by the whole-frame search

    def test_bad_setting(self) -> None:
        with pytest.raises(ValueError, match="at least every frame"):
            LiveSettings(full_detection_every=0)
        with pytest.raises(ValueError, match="confirm faces at least every frame"):
            LiveSettings(cascade_every=0)

    def test_detect_near_finds_a_tilted_face_by_turning_the_patch(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import cv2

        import fer_core.faces as faces

        detector = faces.FaceDetector()
        grey = faces.to_grey(face_frame())
        (box,) = detector.detect(grey)
        x, y, w, h = box
        matrix = cv2.getRotationMatrix2D((x + w / 2, y + h / 2), 25, 1.0)
        tilted = cv2.warpAffine(grey, matrix, grey.shape[::-1], borderMode=cv2.BORDER_REPLICATE)
        assert detector.detect(tilted) == []  # the upright cascade loses a face tilted 25 degrees
        monkeypatch.setattr(faces, "NEAR_TURNS", ())
        assert detector.detect_near(tilted, box) is None
        monkeypatch.setattr(faces, "NEAR_TURNS", (-15.0, 15.0))
        found = detector.detect_near(tilted, box)
        assert found is not None and box_iou(found, box) > 0.7  # same place: the turn is undone

    def test_follow_moves_the_box_with_the_face(self) -> None:
        from fer_core.faces import FaceDetector, to_grey
        from fer_core.live import face_template, follow

        grey = to_grey(face_frame())
        (box,) = FaceDetector().detect(grey)
        template = face_template(grey, box)
        assert template is not None
        moved = follow(np.roll(grey, (7, -9), axis=(0, 1)), box, template)
        assert moved is not None and abs(moved[0] - (box[0] - 9)) <= 3 and abs(moved[1] - (box[1] + 7)) <= 3
        assert moved[2:] == box[2:]  # matching keeps the size; the cascade confirms it later
        assert follow(np.full_like(grey, 128), box, template) is None  # nothing there matches

    def test_the_cascade_confirms_every_third_frame_and_matching_follows_between(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from fer_core.faces import FaceDetector
        from fer_core.live import FrameFaceFinder

        detector = FaceDetector()
        calls = []
        real = detector.detect_near
        monkeypatch.setattr(detector, "detect_near", lambda *a, **k: calls.append(1) or real(*a, **k))
        finder = FrameFaceFinder(detector)
        reference = FrameFaceFinder(FaceDetector())
        settings = LiveSettings(full_detection_every=100, cascade_every=3)
        for frame in self.moving_frames(10):
            boxes, crops = finder.find(frame, settings)
            expected, _ = reference.find(frame, LiveSettings(full_detection_every=100))
            assert len(boxes) == 1 and crops.shape == (1, 48, 48) and box_iou(boxes[0], expected[0]) > 0.7
        assert len(calls) == 3  # frames 4, 7 and 10; frame 1 was a whole-frame search, the rest matched

    def test_two_followed_faces_that_run_into_one_are_kept_once(self) -> None:
        from fer_core.live import _distinct, _Followed

        faces = [_Followed((0, 0, 50, 50), None), _Followed((200, 0, 50, 50), None), _Followed((5, 2, 50, 50), None)]
        assert _distinct(faces) == [0, 1]

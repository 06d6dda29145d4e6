"""When not to trust an answer: a face too hard to read, or a model unsure between emotions.

Each check compares a face with what the models were trained on (FER2013's 48x48 faces), with
thresholds measured on FER2013's train split, never on test:

- **too small**: the face is under :data:`MIN_FACE_PIXELS` across in the photo, so its 48x48 crop is
  an enlargement with no detail of its own;
- **blurred**: the crop's sharpness (variance of its Laplacian) is under :data:`MIN_SHARPNESS`, which
  99 % of FER2013's train faces exceed (1st percentile: 346);
- **turned away**: the nose sits more than :data:`MAX_TURN` eye-distances to one side of the eyes'
  midpoint (landmark detectors only); 97.5 % of FER2013's train faces are under 0.58;
- **partly hidden or unclear**: the detector's own face score is under :data:`MIN_DETECTION_SCORE`;
- **unsure between emotions**: the top (calibrated) probability is under the model's validation
  threshold (:func:`fer_core.calibration.not_sure_threshold`): below it the answer is more often
  wrong than right.

Any of these makes the answer "not sure"; the app shows why, and never a bold label for it.
"""

from __future__ import annotations

import cv2
import numpy as np

MIN_FACE_PIXELS = 36
MIN_SHARPNESS = 346.0
MAX_TURN = 0.6
MIN_DETECTION_SCORE = 0.95

TOO_SMALL = "too small"
BLURRED = "blurred"
TURNED_AWAY = "turned away"
HIDDEN = "partly hidden or unclear"
UNSURE = "unsure between emotions"


def sharpness(crop: np.ndarray) -> float:
    """Variance of the Laplacian of a uint8 48x48 crop (higher is sharper)."""
    return float(cv2.Laplacian(np.asarray(crop, np.uint8), cv2.CV_64F).var())


def turn(landmarks: np.ndarray) -> float:
    """How far the nose is from the eyes' midpoint, along the eye line, in eye distances (0 = frontal)."""
    left, right, nose = (np.asarray(landmarks[i], np.float64) for i in range(3))
    axis = right - left
    distance = float(np.hypot(*axis))
    if distance < 1e-6:
        return float("inf")
    return abs(float(np.dot(nose - (left + right) / 2, axis / distance))) / distance


def face_problems(
    box: tuple[int, int, int, int], crop: np.ndarray, landmarks: np.ndarray | None = None, score: float = 1.0
) -> list[str]:
    """What makes a detected face hard to read (see the module text); empty for a clear face."""
    problems = []
    if min(box[2], box[3]) < MIN_FACE_PIXELS:
        problems.append(TOO_SMALL)
    if sharpness(crop) < MIN_SHARPNESS:
        problems.append(BLURRED)
    if landmarks is not None and turn(landmarks) > MAX_TURN:
        problems.append(TURNED_AWAY)
    if score < MIN_DETECTION_SCORE:
        problems.append(HIDDEN)
    return problems


def judge(problems: list[str], confidence: float, not_sure_below: float) -> tuple[bool, tuple[str, ...]]:
    """(not sure, reasons) for a face's problems and its top probability."""
    reasons = list(problems)
    if confidence < not_sure_below:
        reasons.append(UNSURE)
    return bool(reasons), tuple(reasons)

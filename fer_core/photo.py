"""One photo through the detector: every face boxed and classified, details for the largest, exports.

This is what the detector page calls for an upload or a camera snapshot; it returns data only
(:class:`PhotoAnalysis`), and turns results into the downloads (PNG, CSV, JSON). Nothing here
writes to disk: photos stay in memory.
"""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from PIL import Image

from fer_core.constants import EMOTIONS
from fer_core.faces import (
    MAX_DETAILED_FACES,
    Detector,
    DetectorSettings,
    FacePrediction,
    classify_faces,
    detection_problems,
    draw_predictions,
    find_detections,
    largest_first,
)
from fer_core.images import read_image
from fer_core.models import FerModel

#: The annotated image shown on the page is at most this many pixels on its longer side.
DISPLAY_MAX_SIDE = 1600
#: With "the whole image is one face", images smaller than this are enlarged so the label fits.
WHOLE_IMAGE_MIN_SIDE = 384


@dataclass(frozen=True)
class PhotoAnalysis:
    """Every face in one photo, left to right, with its crop; ``detailed`` indexes the largest faces."""

    name: str
    width: int
    height: int
    faces: list[FacePrediction]
    crops: np.ndarray  # (n, 48, 48) uint8, as the model sees each face
    detailed: list[int]
    annotated: np.ndarray  # (h, w, 3) uint8 RGB, full resolution
    model_name: str
    milliseconds: float

    @property
    def n_hidden(self) -> int:
        """Faces boxed on the image but without a detailed card."""
        return len(self.faces) - len(self.detailed)


def analyse_photo(
    source: Any,
    model: FerModel,
    detector: Detector,
    *,
    name: str = "photo",
    whole_image: bool = False,
    settings: DetectorSettings | None = None,
) -> PhotoAnalysis:
    """Read a photo (bytes, path, PIL image or array), classify every face and draw the boxes."""
    started = time.perf_counter()
    rgb = read_image(source)  # (h, w, 3)
    detections, crops = find_detections(rgb, detector, settings, whole_image=whole_image)
    boxes = [face.box for face in detections]
    problems = None if whole_image else detection_problems(detections, crops)
    faces = classify_faces(crops, boxes, model, problems=problems)
    annotated = _annotate_whole(rgb, faces[0]) if whole_image else draw_predictions(rgb, faces)
    return PhotoAnalysis(
        name=name,
        width=int(rgb.shape[1]),
        height=int(rgb.shape[0]),
        faces=faces,
        crops=crops,
        detailed=largest_first(boxes, MAX_DETAILED_FACES),
        annotated=annotated,
        model_name=model.name,
        milliseconds=(time.perf_counter() - started) * 1000.0,
    )


def _annotate_whole(rgb: np.ndarray, face: FacePrediction) -> np.ndarray:
    """A whole-image face: enlarged if tiny (FER2013 crops are 48x48) with its label in a band above."""
    height, width = rgb.shape[:2]
    scale = max(1.0, WHOLE_IMAGE_MIN_SIDE / max(height, width))
    if scale > 1.0:
        rgb = cv2.resize(rgb, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_CUBIC)
    band = max(28, rgb.shape[0] // 10)
    canvas = cv2.copyMakeBorder(rgb, band, 0, 0, 0, cv2.BORDER_CONSTANT, value=(255, 255, 255))
    boxed = face._replace(box=(0, band, rgb.shape[1], rgb.shape[0]))
    return draw_predictions(canvas, [boxed], numbered=False)


def display_image(image: np.ndarray, max_side: int = DISPLAY_MAX_SIDE) -> np.ndarray:
    """A copy no larger than ``max_side`` on its longer side, for showing in the browser."""
    height, width = image.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1.0:
        return image
    return cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)


def png_bytes(image: np.ndarray) -> bytes:
    """An RGB array encoded as PNG, in memory."""
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(out, format="PNG", optimize=False)
    return out.getvalue()


def result_rows(analyses: list[PhotoAnalysis]) -> list[dict[str, Any]]:
    """One flat row per face across all photos (for the results table and the CSV)."""
    rows = []
    for analysis in analyses:
        for number, face in enumerate(analysis.faces, 1):
            x, y, w, h = face.box
            rows.append(
                {
                    "file": analysis.name,
                    "face": number,
                    "x": x,
                    "y": y,
                    "width": w,
                    "height": h,
                    "emotion": face.emotion,
                    "confidence": round(face.confidence, 4),
                    "not_sure": face.not_sure,
                    "why": "; ".join(face.reasons),
                    **{f"p_{e}": round(face.probabilities[e], 4) for e in EMOTIONS},
                    "model": analysis.model_name,
                }
            )
    return rows


def results_csv(analyses: list[PhotoAnalysis]) -> str:
    """Every face of every photo as CSV text (a header row even when there are no faces)."""
    columns = ["file", "face", "x", "y", "width", "height", "emotion", "confidence", "not_sure", "why"]
    columns += [f"p_{e}" for e in EMOTIONS]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=[*columns, "model"])
    writer.writeheader()
    writer.writerows(result_rows(analyses))
    return out.getvalue()


def results_json(analyses: list[PhotoAnalysis]) -> str:
    """Every face of every photo as indented JSON: per photo its size and faces, numbered left to right."""
    payload = {
        "classes": list(EMOTIONS),
        "photos": [
            {
                "file": a.name,
                "width": a.width,
                "height": a.height,
                "model": a.model_name,
                "faces": [{"face": i, **face.to_dict()} for i, face in enumerate(a.faces, 1)],
            }
            for a in analyses
        ],
    }
    return json.dumps(payload, indent=1)

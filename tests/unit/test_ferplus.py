"""FER+ crowd votes: reading them, the clear-majority rule, the faces they describe, and `evaluate --ferplus`."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from support.data import DATA_DIR, HAS_DATA, NO_DATA_REASON, REPO, write_image_folder

from fer_core.constants import EMOTIONS
from fer_core.errors import DatasetError
from fer_core.ferplus import (
    NO_MAJORITY,
    VOTE_COLUMNS,
    load_faces,
    majority_accuracy,
    read_votes,
    resolve_votes_path,
)

HEADER = ["split", "emotion_folder", "file", "fer_row", "usage", *VOTE_COLUMNS]


def write_votes(path: Path, rows: list[tuple[str, str, str, dict[str, int]]]) -> Path:
    """A votes file: (split, folder, file, {column: votes}) per row, the other columns 0."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for i, (split, folder, name, counts) in enumerate(rows):
            writer.writerow([split, folder, name, i, "PrivateTest", *(counts.get(c, 0) for c in VOTE_COLUMNS)])
    return path


class TestMajority:
    def votes(self, tmp_path: Path):  # noqa: ANN201 - FerPlusVotes
        rows = [
            ("test", "happy", "a.png", {"happiness": 8, "neutral": 2}),  # clear: happy
            ("test", "sad", "b.png", {"sadness": 4, "neutral": 4, "fear": 2}),  # a tie: no majority
            ("test", "angry", "c.png", {"contempt": 6, "anger": 4}),  # contempt wins: not one of ours
            ("test", "fear", "d.png", {"NF": 10}),  # not a face
            ("test", "fear", "e.png", {"surprise": 5, "fear": 4, "unknown": 1}),  # clear: surprise
            ("train", "happy", "f.png", {"happiness": 10}),  # another split
        ]
        return read_votes(write_votes(tmp_path / "votes.csv", rows), "test")

    def test_clear_majority_rule(self, tmp_path: Path) -> None:
        votes = self.votes(tmp_path)
        assert votes.files == ("happy/a.png", "sad/b.png", "angry/c.png", "fear/d.png", "fear/e.png")
        happy, surprise = EMOTIONS.index("happy"), EMOTIONS.index("surprise")
        assert votes.majority.tolist() == [happy, NO_MAJORITY, NO_MAJORITY, NO_MAJORITY, surprise]
        assert votes.emotion_votes.shape == (5, 7) and votes.emotion_votes[0, happy] == 8

    def test_majority_accuracy_counts_clear_faces_only(self, tmp_path: Path) -> None:
        votes = self.votes(tmp_path)
        predictions = np.array([EMOTIONS.index("happy"), 0, 0, 0, EMOTIONS.index("fear")])
        result = majority_accuracy(predictions, votes)
        assert result["n"] == 2 and result["accuracy"] == 0.5
        assert result["fer2013_label_agreement"] == 0.5  # happy agrees; the fear folder's face was surprise

    @pytest.mark.parametrize(
        ("content", "message"),
        [(None, "No FER\\+ votes file"), ("a,b\n1,2\n", "not a FER\\+ votes file"), ("", "not a FER\\+ votes file")],
    )
    def test_bad_votes_files(self, tmp_path: Path, content: str | None, message: str) -> None:
        path = tmp_path / "votes.csv"
        if content is not None:
            path.write_text(content)
        with pytest.raises(DatasetError, match=message):
            read_votes(path)

    def test_an_unknown_folder_or_an_empty_split_is_refused(self, tmp_path: Path) -> None:
        with pytest.raises(DatasetError, match="unknown emotion folder 'bored'"):
            read_votes(write_votes(tmp_path / "v.csv", [("test", "bored", "x.png", {"neutral": 10})]))
        with pytest.raises(DatasetError, match="no votes for the test split"):
            read_votes(write_votes(tmp_path / "w.csv", [("train", "happy", "x.png", {"happiness": 10})]))

    def test_the_votes_file_sits_beside_the_data_unless_set(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("FER_FERPLUS_VOTES", raising=False)
        assert resolve_votes_path(tmp_path / "fer2013") == tmp_path / "ferplus" / "votes.csv"
        monkeypatch.setenv("FER_FERPLUS_VOTES", str(tmp_path / "mine.csv"))
        assert resolve_votes_path(tmp_path / "fer2013") == tmp_path / "mine.csv"


class TestFaces:
    def test_faces_come_in_the_votes_order(self, tmp_path: Path) -> None:
        root = tmp_path / "fer2013"
        write_image_folder(root, {"train": 1, "test": 2})
        rows = [("test", "sad", "sad_1.jpg", {"sadness": 9}), ("test", "angry", "angry_0.png", {"anger": 7})]
        votes = read_votes(write_votes(tmp_path / "votes.csv", rows))
        faces = load_faces(root, votes)
        assert faces.shape == (2, 48, 48) and faces.dtype == np.uint8
        expected = cv2.imread(str(root / "test" / "angry" / "angry_0.png"), cv2.IMREAD_GRAYSCALE)
        np.testing.assert_array_equal(faces[1], expected)

    def test_a_missing_face_is_a_clear_error(self, tmp_path: Path) -> None:
        root = tmp_path / "fer2013"
        write_image_folder(root, {"train": 1, "test": 1})
        votes = read_votes(write_votes(tmp_path / "votes.csv", [("test", "sad", "gone.png", {"sadness": 9})]))
        with pytest.raises(DatasetError, match="1 face\\(s\\) named in the FER\\+ votes are missing"):
            load_faces(root, votes)


def test_evaluate_with_ferplus_on_a_generated_folder(zoo: Path, tmp_path: Path) -> None:
    root = tmp_path / "fer2013"
    write_image_folder(root, {"train": 1, "test": 2})
    rows = [("test", e, f"{e}_0.png", {"happiness": 6, "neutral": 4}) for e in EMOTIONS]
    votes = write_votes(tmp_path / "votes.csv", rows)
    env = {**os.environ, "FER_MODELS_DIR": str(zoo), "FER_CACHE_DIR": str(tmp_path / "cache")}
    command = [sys.executable, "-m", "fer_core", "evaluate", "logreg", "--data", str(root), "--json", "--ferplus"]
    result = subprocess.run([*command, str(votes)], capture_output=True, text=True, env=env, cwd=REPO, check=False)
    assert result.returncode == 0, result.stderr
    ferplus = json.loads(result.stdout)["logreg"]["ferplus"]
    assert ferplus["n"] == 7 and ferplus["fer2013_label_agreement"] == round(1 / 7, 4)  # only happy agrees
    missing = subprocess.run(
        [*command, str(tmp_path / "nope.csv")], capture_output=True, text=True, env=env, cwd=REPO, check=False
    )
    assert missing.returncode == 2 and missing.stderr.strip().startswith("error: No FER+ votes file")
    assert len(missing.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(not HAS_DATA, reason=NO_DATA_REASON)
def test_the_published_sanity_figures_on_the_real_test_split() -> None:
    path = resolve_votes_path(DATA_DIR)
    if not path.is_file():
        pytest.skip(f"No FER+ votes at {path}; set FER_FERPLUS_VOTES to run this test.")
    votes = read_votes(path)
    result = majority_accuracy(votes.labels, votes)  # FER2013's own labels as the "predictions"
    assert len(votes) == 7152 and result["n"] == 6721
    assert result["fer2013_label_agreement"] == pytest.approx(0.655, abs=0.0005) == result["accuracy"]
    faces = load_faces(DATA_DIR, votes)
    assert faces.shape == (7152, 48, 48) and faces.std() > 20  # real faces, not blanks


class TestSoftTargets:
    def test_shares_and_what_is_left_out(self) -> None:
        from fer_core.ferplus import FerPlusVotes, soft_targets

        rows = np.zeros((4, len(VOTE_COLUMNS)), np.int64)
        rows[0, VOTE_COLUMNS.index("happiness")] = 6
        rows[0, VOTE_COLUMNS.index("surprise")] = 4
        rows[1, VOTE_COLUMNS.index("NF")] = 7  # mostly "not a face": left out
        rows[1, VOTE_COLUMNS.index("neutral")] = 3
        rows[2, VOTE_COLUMNS.index("contempt")] = 10  # no vote for our seven emotions: left out
        rows[3, VOTE_COLUMNS.index("sadness")] = 5
        rows[3, VOTE_COLUMNS.index("unknown")] = 5  # a tie goes to the emotion column, which comes first
        votes = FerPlusVotes("train", ("a", "b", "c", "d"), np.zeros(4, np.int64), rows)
        keep, shares = soft_targets(votes)
        assert keep.tolist() == [True, False, False, True]
        assert shares[0, EMOTIONS.index("happy")] == pytest.approx(0.6)
        assert shares[0, EMOTIONS.index("surprise")] == pytest.approx(0.4)
        assert shares[3, EMOTIONS.index("sad")] == pytest.approx(1.0)
        assert np.allclose(shares[keep].sum(axis=1), 1.0)


def test_the_zoo_ferplus_model_and_its_card(zoo: Path) -> None:
    """With the dataset (and so the votes) the FER+ CNN learns from the votes; without, from FER2013's labels."""
    from fer_core.artifacts import read_card

    card = read_card(zoo / "cnn_ferplus")
    assert card.calibrated is not None and card.calibrated.n_validation >= 50
    if HAS_DATA:
        assert card.label_set == "ferplus" and "FER+ votes" in card.protocol
        assert card.ferplus_test["n"] == 6721 and "MIT" in card.ferplus_test["credit"]
    else:
        assert card.label_set == "fer2013" and card.ferplus_test is None

"""The quiz page with AppTest: a round alone, a class with a teacher and two students, no dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest
from support.data import DATA_DIR, HAS_DATA, NO_DATA_REASON, REPO

from fer_core.constants import EMOTIONS

PAGE = REPO / "pages" / "5_Quiz.py"
TIMEOUT = 180
HAS_VOTES = HAS_DATA and (DATA_DIR.parent / "ferplus" / "votes.csv").is_file()
needs_quiz = pytest.mark.skipif(not HAS_VOTES, reason=NO_DATA_REASON + " The quiz also needs ferplus/votes.csv.")


@pytest.fixture
def env(zoo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FER_MODELS_DIR", str(zoo))
    database = tmp_path / "classroom.sqlite"
    monkeypatch.setenv("FER_CLASSROOM_URL", f"sqlite:///{database}")
    return database


def page(**query: str) -> AppTest:
    at = AppTest.from_file(str(PAGE), default_timeout=TIMEOUT)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert_clean(at)
    return at


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]


def texts(elements: Any) -> list[str]:
    return [str(e.value) for e in elements]


def answer(at: AppTest, emotion: str) -> None:
    """Press an emotion button of the face on screen."""
    button = next(b for b in at.button if b.label == emotion and not b.disabled)
    button.click().run()
    assert_clean(at)


@needs_quiz
def test_a_round_alone(env: Path) -> None:
    at = page()
    at.button[0].click().run()  # "Start a new round" (10 faces)
    assert_clean(at)
    for face in range(10):
        assert any(t.startswith(f"Face {face + 1} of 10") for t in [p.text for p in at.get("progress")])
        answer(at, EMOTIONS[face % 7])
        revealed = [t for t in texts(at.markdown) if t.startswith("You said **")]
        assert len(revealed) == 1 and "FER2013's label: **" in revealed[0] and "most of 10 people: **" in revealed[0]
        assert len(at.get("plotly_chart")) == 2  # the FER+ votes and the model's probabilities
        next(b for b in at.button if b.label in {"Next face", "See the scores"}).click().run()
        assert_clean(at)
    table = at.dataframe[0].value
    assert table["who"].tolist()[0] == "You" and table["who"].tolist()[2].startswith("FER+ crowd")
    summary = texts(at.info)[0]
    assert summary.startswith("On these 10 faces ") and "a single label is not the truth" in summary
    assert any("MIT licence" in t for t in texts(at.caption))


@needs_quiz
def test_a_class_with_a_teacher_and_two_students(env: Path) -> None:
    teacher = page()
    teacher.radio(key="quiz_mode").set_value("Teach a class").run()
    next(b for b in teacher.button if b.label == "Start a class").click().run()
    assert_clean(teacher)
    code, key = teacher.session_state["class_teacher"]["code"], teacher.session_state["class_teacher"]["key"]
    assert any(key in t and "shown only once" in t for t in texts(teacher.warning))
    assert any(code in t for t in texts(teacher.markdown))
    assert len(teacher.image) >= 1  # the QR code of the join link

    first = page(**{"class": code})  # the join link opens "Join a class" with the code filled in
    assert first.radio(key="quiz_mode").value == "Join a class"
    assert first.text_input(key="class_code_input").value == code
    first.text_input(key="class_nickname_input").set_value("<b>" + "x" * 30)
    next(b for b in first.button if b.label == "Join the class").click().run()
    assert texts(first.error) == ["A nickname is at most 24 characters; yours has 33."]
    first.text_input(key="class_nickname_input").set_value("Ana")
    next(b for b in first.button if b.label == "Join the class").click().run()
    assert_clean(first)
    answer(first, "happy")

    # Ana's phone reloads the page: the address keeps her token, so she carries on at face 2.
    token = first.session_state["class_student"].token
    reloaded = page(**{"class": code, "me": token})
    assert reloaded.session_state["class_student"].nickname == "Ana"
    assert reloaded.session_state["class_game"]["answers"] == [EMOTIONS.index("happy")]

    second = page(**{"class": code})
    second.text_input(key="class_nickname_input").set_value("Ana")
    next(b for b in second.button if b.label == "Join the class").click().run()
    assert texts(second.error) == [f"Someone in class {code} is already called Ana; pick another nickname."]
    second.text_input(key="class_nickname_input").set_value("Ben")
    next(b for b in second.button if b.label == "Join the class").click().run()
    answer(second, "sad")

    teacher.run()
    assert_clean(teacher)
    assert any(t.startswith("**2 students · 2 answers · class open**") for t in texts(teacher.markdown))
    board = teacher.dataframe[0].value
    assert sorted(board["nickname"]) == ["Ana", "Ben"] and board["answered"].tolist() == [1, 1]

    next(b for b in teacher.button if b.label == "End the class").click().run()
    assert_clean(teacher)
    next(b for b in first.button if b.label == "Next face").click().run()
    assert any("has ended" in t for t in texts(first.warning))

    next(b for b in teacher.button if b.label == "Delete the class and its answers").click().run()
    assert_clean(teacher)
    assert "class_teacher" not in teacher.session_state
    second.run()
    assert any(f"There is no class {code}" in t for t in texts(second.error))


def test_without_the_dataset_the_page_says_how_to_add_it(
    env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FER_DATA_DIR", str(tmp_path / "nowhere"))
    at = page()
    assert any("no FER2013 dataset was found" in t for t in texts(at.warning))
    assert any("How to add the dataset" in t for t in texts(at.markdown))

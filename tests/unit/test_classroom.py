"""The quiz engine and class mode's store: rounds, scores, classes, nicknames, answers under load, refusals."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from fer_core.classroom import Classroom, ClassroomError, open_engine
from fer_core.constants import EMOTIONS, NUM_CLASSES
from fer_core.quiz import QuizBank, pick_round, round_scores
from fer_core.views import class_confusion, class_stats, hardest_faces, leaderboard_table, quiz_summary


def bank(n_per_emotion: int = 20, seed: int = 0) -> QuizBank:
    """A synthetic bank: FER2013 labels evenly spread; FER+ votes agreeing with the label 3 times in 4."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(NUM_CLASSES), n_per_emotion)
    majority = np.where(rng.random(len(labels)) < 0.75, labels, (labels + 1) % NUM_CLASSES)
    votes = np.zeros((len(labels), 10), np.int64)
    order = [4, 5, 6, 1, 0, 3, 2]  # EMOTIONS index -> FER+ column (anger, disgust, fear, happiness, ...)
    top = rng.integers(4, 10, len(labels))  # how many of 10 chose the majority
    votes[np.arange(len(labels)), [order[m] for m in majority]] = top
    votes[:, 8] = 10 - top  # the rest "unknown"
    faces = rng.integers(0, 255, (len(labels), 48, 48), dtype=np.uint8)
    return QuizBank(faces, labels, votes, majority, tuple(f"f{i}.png" for i in range(len(labels))))


class TestRounds:
    def test_a_round_is_stratified_by_emotion(self) -> None:
        b = bank()
        faces = pick_round(b, 14, seed=1)
        assert len(set(faces.tolist())) == 14
        assert np.bincount(b.labels[faces], minlength=NUM_CLASSES).tolist() == [2] * NUM_CLASSES
        ten = pick_round(b, 10, seed=2)
        counts = np.bincount(b.labels[ten], minlength=NUM_CLASSES)
        assert counts.sum() == 10 and counts.min() >= 1 and counts.max() <= 2

    def test_hard_faces_are_the_ones_annotators_disagreed_on(self) -> None:
        b = bank()
        hard = pick_round(b, 20, hard=True, seed=3)
        easy = pick_round(b, 20, hard=False, seed=3)
        assert b.agreement[hard].mean() < b.agreement[easy].mean()
        for emotion in range(NUM_CLASSES):
            pool = np.flatnonzero(b.labels == emotion)
            cutoff = np.sort(b.agreement[pool])[int(np.ceil(0.25 * len(pool))) - 1]
            assert (b.agreement[hard[b.labels[hard] == emotion]] <= cutoff).all()

    def test_scores(self) -> None:
        b = bank()
        faces = np.arange(0, 140, 14)  # 10 faces
        answers = b.labels[faces].copy()
        answers[:3] = (answers[:3] + 2) % NUM_CLASSES  # the player gets 7 of 10 FER2013 labels
        model = b.majority[faces]  # the model always says what the crowd said
        scores = round_scores(b, faces, answers, model)
        assert scores["n"] == 10 and scores["you"]["fer2013"] == pytest.approx(0.7)
        assert scores["model"]["ferplus"] == 1.0
        assert scores["crowd"]["fer2013"] == pytest.approx(float((b.majority[faces] == b.labels[faces]).mean()))
        assert scores["disagreements"] == [i for i in range(10) if answers[i] != model[i]]
        sentence = quiz_summary(scores, "Best CNN")
        you, them = scores["you"]["fer2013"], scores["model"]["fer2013"]
        assert ("you beat" in sentence) == (you > them) and ("beat you" in sentence) == (you < them)


@pytest.fixture
def room(tmp_path: Path) -> Classroom:
    return Classroom(open_engine(f"sqlite:///{tmp_path / 'class.sqlite'}"))


class TestClasses:
    def test_thirty_students_answering_at_once_lose_nothing(self, room: Classroom) -> None:
        code, key = room.start("cnn", list(range(10)))
        students = [room.join(code, f"student {i}") for i in range(30)]
        errors: list[Exception] = []

        def answer_all(student) -> None:  # noqa: ANN001
            try:
                for position in range(10):
                    room.answer(code, student.token, position, (position + len(student.nickname)) % NUM_CLASSES)
            except Exception as exc:  # noqa: BLE001 - collected and reported below
                errors.append(exc)

        threads = [threading.Thread(target=answer_all, args=(s,)) for s in students]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        board = room.board(code, key)
        assert board.answers.shape == (30, 10) and (board.answers >= 0).all() and board.answered == 300
        assert room.count_answers(code) == 300

    def test_two_classes_never_see_each_other(self, room: Classroom) -> None:
        a, key_a = room.start("cnn", [0, 1, 2])
        b, key_b = room.start("cnn", [3, 4])
        alice, bob = room.join(a, "alice"), room.join(b, "bob")
        room.answer(a, alice.token, 0, 3)
        room.answer(b, bob.token, 1, 5)
        assert room.board(a, key_a).nicknames == ("alice",) and room.board(b, key_b).nicknames == ("bob",)
        with pytest.raises(ClassroomError, match="not in this class"):
            room.answer(a, bob.token, 1, 2)  # bob's token belongs to class b
        with pytest.raises(ClassroomError, match="teacher key does not match"):
            room.board(a, key_b)
        assert room.count_answers(a) == 1 and room.count_answers(b) == 1

    @pytest.mark.parametrize(
        ("nickname", "message"),
        [
            ("x" * 10_000, "at most 24 characters; yours has 10,000"),
            ("<script>x</script>", "letters, digits, spaces"),
            ("**bold**", "letters, digits, spaces"),
            ("   ", "Pick a nickname"),
        ],
    )
    def test_hostile_nicknames_are_refused(self, room: Classroom, nickname: str, message: str) -> None:
        code, key = room.start("cnn", [0])
        with pytest.raises(ClassroomError, match=message):
            room.join(code, nickname)
        assert room.board(code, key).nicknames == ()

    def test_refusals_change_nothing(self, room: Classroom) -> None:
        code, key = room.start("cnn", [0, 1])
        student = room.join(code, "Ana")
        with pytest.raises(ClassroomError, match="already called Ana"):
            room.join(code, "Ana")
        with pytest.raises(ClassroomError, match="There is no class"):
            room.join("ZZZZZZ", "Ben")
        with pytest.raises(ClassroomError, match="A class code is 6 letters"):
            room.join("'; DROP TABLE quiz_classes; --", "Ben")
        room.answer(code, student.token, 0, 3)
        with pytest.raises(ClassroomError, match="already answered face 1; your first answer counts"):
            room.answer(code, student.token, 0, 4)
        with pytest.raises(ClassroomError, match="there is no face 3"):
            room.answer(code, student.token, 2, 4)
        for action in (lambda: room.board(code, student.token), lambda: room.end(code, student.token),
                       lambda: room.delete(code, "guess")):  # fmt: skip
            with pytest.raises(ClassroomError, match="Only the teacher who started this class"):
                action()
        assert room.my_answers(code, student.token) == {0: 3}
        room.end(code, key)
        with pytest.raises(ClassroomError, match="has ended: answers are closed"):
            room.answer(code, student.token, 1, 2)
        with pytest.raises(ClassroomError, match="has ended"):
            room.join(code, "Late")
        assert room.my_answers(code, student.token) == {0: 3}

    def test_a_reloaded_page_finds_its_student_and_answers_again(self, room: Classroom) -> None:
        code, _ = room.start("cnn", [0, 1, 2])
        ana = room.join(code, "Ana")
        room.answer(code, ana.token, 0, 3)
        again = room.resume(code, ana.token)
        assert again == ana and room.my_answers(code, again.token) == {0: 3}
        with pytest.raises(ClassroomError, match="not in this class"):
            room.resume(code, "a-guessed-token")

    def test_students_see_the_summary_only_when_shared_and_without_nicknames(self, room: Classroom) -> None:
        code, key = room.start("cnn", [0, 1])
        room.answer(code, room.join(code, "Ana").token, 0, 1)
        with pytest.raises(ClassroomError, match="not shared"):
            room.summary(code)
        room.set_show_summary(code, key, True)
        summary = room.summary(code)
        assert summary.answered == 1 and summary.nicknames == ("",)

    def test_delete_removes_everything(self, room: Classroom) -> None:
        code, key = room.start("cnn", [0])
        room.answer(code, room.join(code, "Ana").token, 0, 1)
        room.delete(code, key)
        with pytest.raises(ClassroomError, match="There is no class"):
            room.info(code)
        with room.engine.connect() as conn:
            for table in ("quiz_classes", "quiz_students", "quiz_answers"):
                assert conn.exec_driver_sql(f"SELECT COUNT(*) FROM {table}").scalar_one() == 0

    def test_a_teacher_password_opens_every_board(self, tmp_path: Path) -> None:
        room = Classroom(open_engine(f"sqlite:///{tmp_path / 'c.sqlite'}"), teacher_password="staff")
        code, _ = room.start("cnn", [0])
        assert room.board(code, "staff").answered == 0


class TestBoardNumbers:
    def test_stats_confusion_leaderboard_and_hardest(self, room: Classroom) -> None:
        b = bank()
        faces = [0, 20, 40]  # FER2013 labels angry, disgust, fear
        code, key = room.start("cnn", faces)
        ana, ben = room.join(code, "Ana"), room.join(code, "Ben")
        for position, face in enumerate(faces):
            room.answer(code, ana.token, position, int(b.majority[face]))  # Ana always agrees with the crowd
        room.answer(code, ben.token, 0, (int(b.majority[0]) + 1) % NUM_CLASSES)  # Ben answered one, wrongly
        board = room.board(code, key)
        model = b.labels[faces]  # a model that always says FER2013's label
        stats = class_stats(board, b, model)
        assert stats["students"] == 2 and stats["answers"] == 4
        assert stats["class_ferplus"] == pytest.approx(3 / 4)
        agree = (b.labels[faces] == b.majority[faces]).mean()
        assert stats["model_ferplus"] == pytest.approx(agree) and stats["crowd_fer2013"] == pytest.approx(agree)
        confusion = class_confusion(board, b)
        assert confusion.sum() == 4 and np.trace(confusion) == 3
        table = leaderboard_table(board, b)
        assert table["nickname"].tolist() == ["Ana", "Ben"] and table["right (FER+ majority)"].tolist() == [3, 0]
        hardest = hardest_faces(board, b, k=1)
        assert hardest == [(0, 0.5, 2)]
        assert EMOTIONS[int(b.majority[faces[0]])] in EMOTIONS

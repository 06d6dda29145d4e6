"""Quiz: "Can you beat the model?" — alone, or as a class with a live teacher's board.

FER2013 test faces one at a time; the player picks an emotion; then the page reveals FER2013's label,
the 10 FER+ annotators' votes and the model's probabilities. Class mode keeps nicknames and answers
in a database (``fer_core.classroom`` through ``st.connection``); the teacher's board updates live.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import segno
import streamlit as st

from fer_core.classroom import Classroom, ClassroomError, Student
from fer_core.constants import EMOTIONS
from fer_core.errors import FerError
from fer_core.explain import enlarge_face
from fer_core.quiz import CREDIT, ROUND_SIZES, QuizBank, pick_round, round_scores
from fer_core.views import (
    class_confusion,
    class_stats,
    hardest_faces,
    leaderboard_table,
    quiz_scores_table,
    quiz_summary,
)
from fer_ui import figures, ui

FACE_PIXELS = 288  # 48 x 6: big enough on a phone
BOARD_REFRESH_SECONDS = 3.0


def model_choice(cards: Any, key: str) -> str:
    names = cards.trained
    best = cards.best() or names[0]
    return st.selectbox(
        "Model to play against",
        names,
        index=names.index(best),
        format_func=lambda n: cards.cards[n].title,
        key=key,
        help="The most accurate model on FER2013's test faces is chosen first.",
    )


def emotion_buttons(key: str, disabled: bool = False) -> int | None:
    """Seven big buttons; the index of the one pressed, if any."""
    pressed = None
    rows = (EMOTIONS[:4], EMOTIONS[4:])
    for row in rows:
        columns = st.columns(4)
        for column, emotion in zip(columns, row):
            if column.button(emotion, key=f"{key}-{emotion}", use_container_width=True, disabled=disabled):
                pressed = EMOTIONS.index(emotion)
    return pressed


def reveal(bank: QuizBank, index: int, answer: int, probabilities: np.ndarray, model_title: str, key: str) -> None:
    """FER2013's label, the FER+ votes and the model's probabilities for one answered face."""
    label, crowd = EMOTIONS[bank.labels[index]], EMOTIONS[bank.majority[index]]
    model_answer = EMOTIONS[int(probabilities.argmax())]
    mark = "✓" if EMOTIONS[answer] == label else "✗"
    st.markdown(
        f"You said **{EMOTIONS[answer]}** {mark} · FER2013's label: **{label}** · most of 10 people: **{crowd}** · "
        f"{model_title}: **{model_answer}** ({probabilities.max():.0%})"
    )
    left, right = st.columns(2)
    with left:
        st.caption("What 10 people said (FER+ votes)")
        st.plotly_chart(figures.votes_chart(bank.vote_counts(index)), theme=None, key=f"{key}-votes")
    with right:
        st.caption(f"{model_title}'s probabilities")
        st.plotly_chart(
            figures.probability_chart(dict(zip(EMOTIONS, map(float, probabilities))), 240),
            theme=None,
            key=f"{key}-model",
        )


# --------------------------------------------------------------------------------------------
# Playing alone
# --------------------------------------------------------------------------------------------


def solo(bank: QuizBank, cards: Any) -> None:
    with st.form("quiz-new-round"):
        left, middle, right = st.columns(3)
        size = left.radio("Faces in a round", ROUND_SIZES, horizontal=True, key="quiz_size")
        hard = middle.toggle("Hard faces", key="quiz_hard", help="Faces the 10 annotators disagreed on most.")
        with right:
            model_name = model_choice(cards, "quiz_model")
        start = st.form_submit_button("Start a new round", type="primary")
    if start:
        indices = pick_round(bank, int(size), hard=hard, seed=int(time.time_ns() % 2**32))
        st.session_state["quiz"] = {"faces": [int(i) for i in indices], "answers": [], "model": model_name}
    game = st.session_state.get("quiz")
    if not game:
        st.caption("Pick a round and press **Start a new round**.")
        return
    card = cards.cards.get(game["model"])
    if card is None:
        st.session_state.pop("quiz")
        st.warning("The model of that round is no longer installed; start a new round.")
        return
    probs = ui.quiz_probabilities(game["model"], card, game["faces"])
    play(bank, game, probs, card.title, key="solo")


def play(
    bank: QuizBank, game: dict[str, Any], probs: np.ndarray, model_title: str, key: str, on_answer: Any = None
) -> None:
    """The current face (or the reveal of the last one), and the final scores at the end."""
    faces, answers = game["faces"], game["answers"]
    position = len(answers)
    revealing = game.get("revealing", False)
    if position == len(faces) and not revealing:
        final_scores(bank, game, probs, model_title)
        return
    shown = position - 1 if revealing else position
    st.progress(position / len(faces), text=f"Face {shown + 1} of {len(faces)}")
    index = faces[shown]
    st.image(enlarge_face(bank.faces[index], FACE_PIXELS), width=FACE_PIXELS)
    if revealing:
        reveal(bank, index, answers[-1], probs[shown], model_title, key=f"{key}-{shown}")
        if st.button("Next face" if position < len(faces) else "See the scores", type="primary", key=f"{key}-next"):
            game["revealing"] = False
            st.rerun()
        return
    st.markdown("**Which emotion does this face show?**")
    pressed = emotion_buttons(f"{key}-{shown}")
    if pressed is not None:
        if on_answer is not None:
            try:
                on_answer(shown, pressed)
            except ClassroomError as exc:
                st.error(str(exc))
                return
        answers.append(pressed)
        game["revealing"] = True
        st.rerun()


def final_scores(bank: QuizBank, game: dict[str, Any], probs: np.ndarray, model_title: str) -> None:
    faces = np.asarray(game["faces"])
    scores = round_scores(bank, faces, np.asarray(game["answers"]), probs.argmax(axis=1))
    st.subheader("Your scores")
    st.dataframe(quiz_scores_table(scores, model_title), hide_index=True)
    st.info(quiz_summary(scores, model_title))
    if scores["disagreements"]:
        st.subheader("Where you and the model disagreed")
        columns = st.columns(4)
        for n, position in enumerate(scores["disagreements"]):
            index = int(faces[position])
            with columns[n % 4]:
                st.image(enlarge_face(bank.faces[index], 144))
                st.caption(
                    f"you: {EMOTIONS[game['answers'][position]]} · model: {EMOTIONS[int(probs[position].argmax())]} · "
                    f"FER2013: {EMOTIONS[bank.labels[index]]} · 10 people: {EMOTIONS[bank.majority[index]]}"
                )
    st.caption(CREDIT)


# --------------------------------------------------------------------------------------------
# Class mode: students
# --------------------------------------------------------------------------------------------


def student_view(bank: QuizBank, cards: Any, room: Classroom) -> None:
    student: Student | None = st.session_state.get("class_student")
    if student is None and st.query_params.get("class") and st.query_params.get("me"):
        try:  # a reloaded page: the link keeps the student's own token, so they carry on where they were
            student = room.resume(str(st.query_params["class"]), str(st.query_params["me"]))
        except ClassroomError:
            student = None
        else:
            st.session_state["class_student"] = student
            mine = room.my_answers(student.class_code, student.token)
            info = room.info(student.class_code)
            answers = []
            while len(answers) in mine:
                answers.append(mine[len(answers)])
            st.session_state["class_game"] = {"faces": list(info.faces), "answers": answers, "code": info.code}
    if student is None:
        code_default = str(st.query_params.get("class", ""))
        with st.form("class-join"):
            code = st.text_input("Class code", value=code_default, max_chars=12, key="class_code_input")
            nickname = st.text_input(
                "Nickname (no real name needed)",
                max_chars=200,
                key="class_nickname_input",
                help="Shown on the class board.",
            )
            join = st.form_submit_button("Join the class", type="primary")
        if join:
            try:
                joined = room.join(code, nickname)
            except ClassroomError as exc:
                st.error(str(exc))
                return
            st.session_state["class_student"] = joined
            # In the address, so a reload (phones do that) finds this student again; it is theirs only.
            st.query_params["class"], st.query_params["me"] = joined.class_code, joined.token
            st.rerun()
        return
    try:
        info = room.info(student.class_code)
    except ClassroomError as exc:
        st.error(str(exc))
        if st.button("Leave", key="class-leave"):
            st.session_state.pop("class_student", None)
            st.rerun()
        return
    st.caption(f"Class **{info.code}** · you are **{student.nickname}**")
    card = cards.cards.get(info.model)
    if card is None:
        st.error("The model this class plays against is not installed on this server.")
        return
    game = st.session_state.setdefault("class_game", {"faces": list(info.faces), "answers": [], "code": info.code})
    if game.get("code") != info.code:
        game = st.session_state["class_game"] = {"faces": list(info.faces), "answers": [], "code": info.code}
    if info.ended and len(game["answers"]) < len(game["faces"]):
        st.warning(f"Class {info.code} has ended: answers are closed.")
    else:
        probs = ui.quiz_probabilities(info.model, card, info.faces)
        play(
            bank,
            game,
            probs,
            card.title,
            key=f"class-{info.code}",
            on_answer=lambda p, a: room.answer(info.code, student.token, p, a),
        )
    if info.show_summary:
        class_summary(bank, room, info.code, card)


def class_summary(bank: QuizBank, room: Classroom, code: str, card: Any) -> None:
    try:
        board = room.summary(code)
    except ClassroomError as exc:
        st.caption(str(exc))
        return
    probs = ui.quiz_probabilities(board.info.model, card, board.info.faces)
    stats = class_stats(board, bank, probs.argmax(axis=1))
    st.subheader("The class so far")
    st.markdown(
        f"{stats['students']} students, {stats['answers']} answers: the class agrees with the FER+ majority on "
        f"{stats['class_ferplus']:.0%}, {card.title} on {stats['model_ferplus']:.0%} of the same faces."
    )


# --------------------------------------------------------------------------------------------
# Class mode: the teacher
# --------------------------------------------------------------------------------------------


def join_link(code: str) -> str:
    base = (st.context.url or "").split("?")[0]
    return f"{base}?class={code}"


def teacher_view(bank: QuizBank, cards: Any, room: Classroom) -> None:
    teacher = st.session_state.get("class_teacher")
    if teacher is None:
        with st.form("class-start"):
            left, middle, right = st.columns(3)
            size = left.radio("Faces", ROUND_SIZES, horizontal=True, key="class_size")
            hard = middle.toggle("Hard faces", key="class_hard")
            with right:
                model_name = model_choice(cards, "class_model")
            start = st.form_submit_button("Start a class", type="primary")
        if start:
            faces = pick_round(bank, int(size), hard=hard, seed=int(time.time_ns() % 2**32))
            code, key = room.start(model_name, [int(i) for i in faces])
            st.session_state["class_teacher"] = {"code": code, "key": key, "new": True}
            st.rerun()
        with st.expander("Open the board of a class you started"), st.form("class-reopen"):
            code = st.text_input("Class code", key="class_reopen_code")
            key = st.text_input("Teacher key", type="password", key="class_reopen_key")
            if st.form_submit_button("Open the board"):
                try:
                    room.board(code, key)
                except ClassroomError as exc:
                    st.error(str(exc))
                else:
                    st.session_state["class_teacher"] = {"code": code.strip().upper(), "key": key, "new": False}
                    st.rerun()
        return
    code, key = teacher["code"], teacher["key"]
    link = join_link(code)
    left, right = st.columns([2, 1])
    with left:
        st.markdown(f"### Class code: `{code}`")
        st.markdown(f"Students open **{link}** (or scan the code) and join with a nickname.")
        if teacher.get("new"):
            st.warning(f"Your teacher key is **{key}** — note it now: it is shown only once, and it opens this board.")
    with right:
        st.image(segno.make(link, error="m").png_data_uri(scale=5), caption="Join link")
    board_panel(bank, cards, room, code, key)


@st.fragment(run_every=BOARD_REFRESH_SECONDS)
def board_panel(bank: QuizBank, cards: Any, room: Classroom, code: str, key: str) -> None:
    """The live board: class vs model vs crowd, the confusion matrices, the hardest faces, the leaderboard."""
    try:
        board = room.board(code, key)
    except ClassroomError as exc:
        st.error(str(exc))
        if st.button("Close the board", key="board-close"):
            st.session_state.pop("class_teacher", None)
            st.rerun(scope="app")
        return
    card = cards.cards.get(board.info.model)
    if card is None:
        st.error("This class's model is no longer installed.")
        return
    probs = ui.quiz_probabilities(board.info.model, card, board.info.faces)
    model_answers = probs.argmax(axis=1)
    stats = class_stats(board, bank, model_answers)
    status = "ended" if board.info.ended else "open"
    st.markdown(f"**{stats['students']} students · {stats['answers']} answers · class {status}**")
    columns = st.columns(3)
    columns[0].metric("Class vs the FER+ majority", f"{stats['class_ferplus']:.0%}")
    columns[1].metric(f"{card.title} vs the FER+ majority", f"{stats['model_ferplus']:.0%}")
    columns[2].metric("FER+ majority vs FER2013's label", f"{stats['crowd_fer2013']:.0%}")
    st.caption(
        f"On the faces answered so far. The class agrees with FER2013's labels on {stats['class_fer2013']:.0%}, "
        f"{card.title} on {stats['model_fer2013']:.0%}. {CREDIT}."
    )
    if stats["answers"]:
        faces = np.asarray(board.info.faces)
        left, right = st.columns(2)
        model_matrix = np.zeros((len(EMOTIONS), len(EMOTIONS)), dtype=np.int64)
        answered = (board.answers >= 0).any(axis=0)
        np.add.at(model_matrix, (bank.majority[faces[answered]], model_answers[answered]), 1)
        left.plotly_chart(
            figures.titled(figures.confusion_figure(class_confusion(board, bank), normalised=False), "The class"),
            theme=None,
            key="board-class-confusion",
        )
        right.plotly_chart(
            figures.titled(figures.confusion_figure(model_matrix, normalised=False), card.title),
            theme=None,
            key="board-model-confusion",
        )
        st.caption("Rows: what most of 10 people said (FER+); columns: the answer.")
        st.markdown("**Hardest faces for the class**")
        hard = hardest_faces(board, bank)
        cols = st.columns(max(1, len(hard)))
        for column, (position, rate, n) in zip(cols, hard):
            index = int(faces[position])
            column.image(enlarge_face(bank.faces[index], 144))
            column.caption(f"{rate:.0%} of {n} right · 10 people: {EMOTIONS[bank.majority[index]]}")
        st.markdown("**Leaderboard**")
        st.dataframe(leaderboard_table(board, bank), hide_index=True)
    a, b, c = st.columns(3)
    show = a.toggle("Show the class results to students", value=board.info.show_summary, key="board-show")
    if show != board.info.show_summary:
        room.set_show_summary(code, key, show)
    if not board.info.ended and b.button("End the class", key="board-end"):
        room.end(code, key)
        st.rerun()
    if c.button("Delete the class and its answers", key="board-delete"):
        room.delete(code, key)
        st.session_state.pop("class_teacher", None)
        st.rerun(scope="app")


# --------------------------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------------------------

ui.setup_page("Quiz", "🎯")
st.title("Can you beat the model?")
st.markdown(
    "Guess the emotion of FER2013 faces, then see what FER2013's label says, what 10 people said (FER+) and "
    "what the model says. People disagree about faces too — that is the lesson."
)
ui.responsible_use_link()
bank, why = ui.get_quiz_bank()
cards = ui.get_cards()
if bank is None:
    st.warning(why)
    st.markdown("The quiz needs FER2013's test faces and the FER+ votes (`ferplus/votes.csv` beside the dataset).")
    ui.dataset_help()
    st.stop()
if not cards.trained:
    st.warning("No trained model is installed, so there is no model to play against.")
    ui.missing_models(cards)
    st.stop()

modes = ["On my own", "Join a class", "Teach a class"]
default_mode = 1 if st.query_params.get("class") else 0
mode = st.radio("How do you play?", modes, index=default_mode, horizontal=True, key="quiz_mode")
try:
    if mode == modes[0]:
        solo(bank, cards)
    else:
        room = ui.get_classroom()
        if mode == modes[1]:
            student_view(bank, cards, room)
        else:
            teacher_view(bank, cards, room)
except FerError as exc:
    st.error(str(exc))

"""Class mode of the quiz: classes, nicknames and answers in a real database (SQLAlchemy).

A teacher starts a class (:meth:`Classroom.start`) and gets a short code for students and a teacher
key, shown once and stored only as a hash. Students join with a nickname (:meth:`Classroom.join`)
and answer the class's faces (:meth:`Classroom.answer`); every answer is one row, written in its own
transaction, so 30 students answering at once lose nothing (SQLite runs in WAL mode with a busy
timeout; any SQLAlchemy URL works, e.g. PostgreSQL when several app servers share the classes).
Only the teacher key (or the server's teacher password) opens a class's board, ends or deletes it.
Only nicknames and answers are stored: no names, photos or camera images.

Every refusal is a :class:`ClassroomError` with a sentence for people; nothing changes on a refusal.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import (
    Boolean,
    Column,
    Engine,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from fer_core.constants import NUM_CLASSES
from fer_core.errors import FerError

#: Class codes: 6 characters without look-alikes (no 0/O, 1/I/L).
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 6
NICKNAME_MAX = 24
#: Letters (any script), digits, spaces and - _ . only: no markup, no control characters.
NICKNAME_PATTERN = re.compile(r"^[\w .\-]+$")

metadata = MetaData()
classes = Table(
    "quiz_classes",
    metadata,
    Column("code", String(CODE_LENGTH), primary_key=True),
    Column("key_hash", String(64), nullable=False),
    Column("model", String(40), nullable=False),
    Column("faces", Text, nullable=False),  # JSON list of quiz-bank indices
    Column("show_summary", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False),
    Column("ended_at", Float, nullable=True),
)
students = Table(
    "quiz_students",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("class_code", String(CODE_LENGTH), ForeignKey("quiz_classes.code", ondelete="CASCADE"), nullable=False),
    Column("nickname", String(NICKNAME_MAX), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("joined_at", Float, nullable=False),
    UniqueConstraint("class_code", "nickname", name="uq_nickname_per_class"),
)
answers = Table(
    "quiz_answers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("class_code", String(CODE_LENGTH), ForeignKey("quiz_classes.code", ondelete="CASCADE"), nullable=False),
    Column("student_id", Integer, ForeignKey("quiz_students.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("answer", Integer, nullable=False),
    Column("answered_at", Float, nullable=False),
    UniqueConstraint("student_id", "position", name="uq_one_answer_per_face"),
)


class ClassroomError(FerError):
    """A refused class action, with the reason in a sentence."""


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def sqlite_pragmas(engine: Engine) -> Engine:
    """WAL journal (readers never block the writer) and a 10 s busy timeout, on every SQLite connection."""
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; commits skip an fsync each
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

    return engine


def open_engine(url: str) -> Engine:
    """An engine for ``url`` with the SQLite settings above (used by tests and the load script)."""
    return sqlite_pragmas(create_engine(url, pool_pre_ping=True))


@dataclass(frozen=True)
class Student:
    """A joined student: the class, their nickname and the token their browser keeps."""

    class_code: str
    nickname: str
    token: str


@dataclass(frozen=True)
class ClassInfo:
    code: str
    model: str
    faces: tuple[int, ...]
    show_summary: bool
    created_at: float
    ended: bool


@dataclass(frozen=True)
class Board:
    """What a class answered: a row per student, a column per face (-1 = not answered yet)."""

    info: ClassInfo
    nicknames: tuple[str, ...]
    answers: np.ndarray  # (students, faces) EMOTIONS indices or -1

    @property
    def answered(self) -> int:
        return int((self.answers >= 0).sum())


class Classroom:
    """The class store on one SQLAlchemy engine (thread-safe: every call is its own transaction)."""

    def __init__(self, engine: Engine, teacher_password: str | None = None) -> None:
        self.engine = engine
        self._password_hash = _hash(teacher_password) if teacher_password else None
        # SQLite has one writer at a time; when many threads write at once, its busy handler backs
        # off in sleeps of up to 100 ms, so a few answers would wait seconds. Queueing this server's
        # writes on a lock keeps every wait short and in order (other servers' writes still meet
        # the busy timeout; several servers should share PostgreSQL instead).
        self._write_lock = threading.Lock() if engine.dialect.name == "sqlite" else None
        metadata.create_all(engine)

    @contextmanager
    def _writing(self) -> Iterator[Any]:
        """A write transaction (queued behind this server's other SQLite writes)."""
        if self._write_lock is None:
            with self.engine.begin() as conn:
                yield conn
            return
        with self._write_lock, self.engine.begin() as conn:
            yield conn

    # -- teacher -----------------------------------------------------------------------------

    def start(self, model: str, faces: Sequence[int], *, show_summary: bool = False) -> tuple[str, str]:
        """A new class for the quiz-bank ``faces``: returns ``(code, teacher key)``; the key is shown once."""
        if not faces:
            raise ClassroomError("A class needs at least one face.")
        key = secrets.token_urlsafe(12)
        for _ in range(20):
            code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
            try:
                with self._writing() as conn:
                    conn.execute(
                        insert(classes).values(
                            code=code,
                            key_hash=_hash(key),
                            model=model,
                            faces=json.dumps([int(f) for f in faces]),
                            show_summary=show_summary,
                            created_at=time.time(),
                        )
                    )
                return code, key
            except IntegrityError:
                continue  # that code is taken: draw another
        raise ClassroomError("Could not find a free class code; try again.")

    def _check_teacher(self, code: str, key: str) -> ClassInfo:
        info = self.info(code)
        with self.engine.connect() as conn:
            stored = conn.execute(select(classes.c.key_hash).where(classes.c.code == info.code)).scalar_one()
        given = _hash(key or "")
        if not (
            hmac.compare_digest(given, stored)
            or (self._password_hash and hmac.compare_digest(given, self._password_hash))
        ):
            raise ClassroomError("Only the teacher who started this class can do that: the teacher key does not match.")
        return info

    def board(self, code: str, key: str) -> Board:
        """Every student's answers, for the teacher."""
        info = self._check_teacher(code, key)
        return self._board(info)

    def set_show_summary(self, code: str, key: str, show: bool) -> None:
        info = self._check_teacher(code, key)
        with self._writing() as conn:
            conn.execute(update(classes).where(classes.c.code == info.code).values(show_summary=bool(show)))

    def end(self, code: str, key: str) -> None:
        """Stop taking answers (the board stays until the class is deleted)."""
        info = self._check_teacher(code, key)
        with self._writing() as conn:
            conn.execute(
                update(classes)
                .where(and_(classes.c.code == info.code, classes.c.ended_at.is_(None)))
                .values(ended_at=time.time())
            )

    def delete(self, code: str, key: str) -> None:
        """Remove the class, its nicknames and its answers."""
        info = self._check_teacher(code, key)
        with self._writing() as conn:
            conn.execute(delete(answers).where(answers.c.class_code == info.code))
            conn.execute(delete(students).where(students.c.class_code == info.code))
            conn.execute(delete(classes).where(classes.c.code == info.code))

    # -- students ----------------------------------------------------------------------------

    def info(self, code: str) -> ClassInfo:
        """The class with this code, or a ClassroomError saying there is none."""
        code = (code or "").strip().upper()
        if not re.fullmatch(rf"[{CODE_ALPHABET}]{{{CODE_LENGTH}}}", code):
            raise ClassroomError(
                f"A class code is {CODE_LENGTH} letters and digits, like K7QM2P; check it with your teacher."
            )
        with self.engine.connect() as conn:
            row = conn.execute(select(classes).where(classes.c.code == code)).mappings().first()
        if row is None:
            raise ClassroomError(f"There is no class {code}: check the code with your teacher.")
        return ClassInfo(
            code=row["code"],
            model=row["model"],
            faces=tuple(json.loads(row["faces"])),
            show_summary=bool(row["show_summary"]),
            created_at=float(row["created_at"]),
            ended=row["ended_at"] is not None,
        )

    def join(self, code: str, nickname: str) -> Student:
        """Join a class with a nickname (no real names needed); returns the student's token."""
        info = self.info(code)
        if info.ended:
            raise ClassroomError(f"Class {info.code} has ended; ask your teacher for a new code.")
        nickname = check_nickname(nickname)
        token = secrets.token_urlsafe(16)
        try:
            with self._writing() as conn:
                conn.execute(
                    insert(students).values(
                        class_code=info.code, nickname=nickname, token_hash=_hash(token), joined_at=time.time()
                    )
                )
        except IntegrityError:
            raise ClassroomError(
                f"Someone in class {info.code} is already called {nickname}; pick another nickname."
            ) from None
        return Student(info.code, nickname, token)

    def _student_id(self, conn: Any, code: str, token: str) -> int:
        row = conn.execute(
            select(students.c.id).where(
                and_(students.c.class_code == code, students.c.token_hash == _hash(token or ""))
            )
        ).first()
        if row is None:
            raise ClassroomError("You are not in this class (or it was deleted); join it again with its code.")
        return int(row[0])

    def resume(self, code: str, token: str) -> Student:
        """The student holding ``token`` in class ``code`` (a reloaded page finds its student again)."""
        info = self.info(code)
        with self.engine.connect() as conn:
            row = conn.execute(
                select(students.c.nickname).where(
                    and_(students.c.class_code == info.code, students.c.token_hash == _hash(token or ""))
                )
            ).first()
        if row is None:
            raise ClassroomError("You are not in this class (or it was deleted); join it again with its code.")
        return Student(info.code, str(row[0]), token)

    def answer(self, code: str, token: str, position: int, emotion: int) -> None:
        """Store a student's answer to the class's face number ``position``; the first answer counts."""
        info = self.info(code)
        if info.ended:
            raise ClassroomError(f"Class {info.code} has ended: answers are closed.")
        if not 0 <= int(position) < len(info.faces):
            raise ClassroomError(f"This class has {len(info.faces)} faces; there is no face {int(position) + 1}.")
        if not 0 <= int(emotion) < NUM_CLASSES:
            raise ClassroomError("That is not one of the seven emotions.")
        try:
            with self._writing() as conn:
                student_id = self._student_id(conn, info.code, token)
                conn.execute(
                    insert(answers).values(
                        class_code=info.code,
                        student_id=student_id,
                        position=int(position),
                        answer=int(emotion),
                        answered_at=time.time(),
                    )
                )
        except IntegrityError:
            raise ClassroomError(f"You already answered face {int(position) + 1}; your first answer counts.") from None

    def my_answers(self, code: str, token: str) -> dict[int, int]:
        """A student's own answers: ``{position: emotion}``."""
        info = self.info(code)
        with self.engine.connect() as conn:
            student_id = self._student_id(conn, info.code, token)
            rows = conn.execute(
                select(answers.c.position, answers.c.answer).where(answers.c.student_id == student_id)
            ).all()
        return {int(p): int(a) for p, a in rows}

    def summary(self, code: str) -> Board:
        """The class's answers for students, only if the teacher chose to show them."""
        info = self.info(code)
        if not info.show_summary:
            raise ClassroomError("Your teacher has not shared the class results yet.")
        board = self._board(info)
        return Board(info, tuple("" for _ in board.nicknames), board.answers)  # no nicknames for students

    def count_answers(self, code: str) -> int:
        info = self.info(code)
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).where(answers.c.class_code == info.code)).scalar_one())

    def _board(self, info: ClassInfo) -> Board:
        with self.engine.connect() as conn:
            people = conn.execute(
                select(students.c.id, students.c.nickname)
                .where(students.c.class_code == info.code)
                .order_by(students.c.id)
            ).all()
            rows = conn.execute(
                select(answers.c.student_id, answers.c.position, answers.c.answer).where(
                    answers.c.class_code == info.code
                )
            ).all()
        row_of = {int(sid): i for i, (sid, _) in enumerate(people)}
        matrix = np.full((len(people), len(info.faces)), -1, dtype=np.int64)
        for sid, position, emotion in rows:
            if int(sid) in row_of:
                matrix[row_of[int(sid)], int(position)] = int(emotion)
        return Board(info, tuple(name for _, name in people), matrix)


def check_nickname(nickname: str) -> str:
    """A trimmed nickname, or a ClassroomError saying what is wrong with it."""
    nickname = " ".join((nickname or "").split())
    if not nickname:
        raise ClassroomError("Pick a nickname (no real name needed).")
    if len(nickname) > NICKNAME_MAX:
        raise ClassroomError(f"A nickname is at most {NICKNAME_MAX} characters; yours has {len(nickname):,}.")
    if not NICKNAME_PATTERN.match(nickname):
        raise ClassroomError("A nickname can have letters, digits, spaces, dots, dashes and underscores only.")
    return nickname

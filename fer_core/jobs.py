"""The single background training job of a dashboard server.

A :class:`JobManager` supervises one training job from a daemon thread. The thread starts
:func:`fer_core.training.train_model` in a spawned child process and folds the child's progress
events into a lock-protected :class:`_JobRecord`; pages read immutable :class:`JobState` snapshots
and never touch the worker. Training runs in its own process, not in the server's threads, because
Streamlit calls ``keras.backend.clear_session()`` after every script run, and in Keras 3 that
resets the naming state of *every* thread, so a model being built in a server thread while a page
polls fails with duplicate layer names. The process also keeps the page responsive (no shared GIL).

The manager lives as long as the server process (see :func:`get_manager`), so navigating away or
refreshing the browser does not end a job, and only one job runs at a time per server. Nothing
here imports Streamlit.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import multiprocessing as mp
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from fer_core.artifacts import install_artifact
from fer_core.cards import ModelCard
from fer_core.constants import RUNS_DIR
from fer_core.data import load_dataset, resolve_data_dir
from fer_core.errors import FerError
from fer_core.eta import PHASE_LABELS, PhaseEta
from fer_core.models import get_spec
from fer_core.presets import relative_plan
from fer_core.progress import ProgressEvent
from fer_core.training import train_model

logger = logging.getLogger(__name__)

#: Overrides where runs are written (tests, scratch servers); default ``runs/``.
RUNS_DIR_ENV = "FER_RUNS_DIR"

Status = Literal["loading", "training", "stopping", "evaluating", "done", "failed"]
ACTIVE_STATUSES: frozenset[str] = frozenset({"loading", "training", "stopping", "evaluating"})


class JobBusyError(FerError):
    """A training job is already running on this server."""


class NotYourJobError(FerError):
    """Only the browser session that started a job may stop or install it."""


def default_runs_dir() -> Path:
    """``$FER_RUNS_DIR`` if set, else the git-ignored ``runs/`` folder."""
    env = os.environ.get(RUNS_DIR_ENV, "")
    return Path(env) if env else RUNS_DIR


@dataclass(frozen=True)
class JobState:
    """A consistent snapshot of the job, safe to read from any thread."""

    job_id: str
    model: str
    display_name: str
    family: str
    owner: str
    params: dict[str, Any]
    limit: int | None
    status: Status
    started_at: float
    finished_at: float | None
    message: str
    epoch: int
    epochs: int
    batch: int
    batches: int
    step: int
    steps: int
    batch_logs: dict[str, float]
    history: dict[str, list[float]]
    fraction: float
    epoch_fraction: float
    eta_seconds: float | None
    phase: str
    phase_label: str
    phase_fraction: float
    phases: tuple[str, ...]
    preset: str | None
    stop_requested: bool
    run_dir: Path | None
    artifact_dir: Path | None
    card: ModelCard | None
    error: str | None
    installed_to: Path | None

    @property
    def active(self) -> bool:
        """True while the worker thread is still busy."""
        return self.status in ACTIVE_STATUSES

    @property
    def elapsed_seconds(self) -> float:
        """Seconds since the job started (until it finished, if it has)."""
        return (self.finished_at or time.time()) - self.started_at

    def describe(self) -> str:
        """One sentence: who trains what, and how far along it is."""
        where = f"epoch {self.epoch}/{self.epochs}" if self.epochs else f"{self.step}/{self.steps} steps"
        started = dt.datetime.fromtimestamp(self.started_at).strftime("%H:%M")
        return f"{self.owner} is training {self.display_name} ({where}, started at {started})."


@dataclass
class _JobRecord:
    """Mutable job state, only touched while holding the manager's lock."""

    job_id: str
    model: str
    display_name: str
    family: str
    owner: str
    params: dict[str, Any]
    limit: int | None
    run_dir: Path
    status: Status = "loading"
    started_at: float = field(default_factory=time.time)
    train_started: float | None = None
    finished_at: float | None = None
    message: str = "Loading the dataset"
    epoch: int = 0
    epochs: int = 0
    batch: int = 0
    batches: int = 0
    step: int = 0
    steps: int = 0
    batch_logs: dict[str, float] = field(default_factory=dict)
    history: dict[str, list[float]] = field(default_factory=dict)
    fraction: float = 0.0
    artifact_dir: Path | None = None
    card: ModelCard | None = None
    error: str | None = None
    installed_to: Path | None = None
    stop: Any = None  # a multiprocessing Event shared with the child process
    session: str | None = None  # the browser session that started it (None: started outside a page)
    eta: PhaseEta | None = None
    phase: str = ""
    phase_label: str = ""
    phase_fraction: float = 0.0
    preset: str | None = None
    queue_id: int | None = None  # set for the runs of a queue (JobManager.start_queue)

    def stop_requested(self) -> bool:
        return self.stop is not None and self.stop.is_set()

    def apply(self, event: ProgressEvent) -> None:
        """Fold one progress event into the record."""
        if event.kind == "message":
            self.message = event.message
            if event.message.startswith("Evaluating"):
                self.status = "evaluating"
            return
        if event.kind == "phase":
            self.phase, self.phase_label, self.phase_fraction = event.phase, event.message, 0.0
            self.step = self.steps = 0  # a new phase gets its own bar, under its own label
            if self.train_started is None:
                self.train_started = time.time()
            if self.eta is not None:
                self.eta.start_phase(event.phase)
            if event.phase == "evaluate" and self.status == "training":
                self.status = "evaluating"
            return
        if event.kind == "start":
            if self.train_started is None:  # an ensemble starts each of its networks
                self.train_started = time.time()
            self.epochs, self.batches = event.epochs, event.batches
        elif event.kind == "batch":
            self.epoch, self.epochs = event.epoch, event.epochs
            self.batch, self.batches = event.batch, event.batches
            self.batch_logs = dict(event.logs)
        elif event.kind == "epoch":
            self.epoch, self.epochs = event.epoch, event.epochs
            self.batch, self.batches = event.batches, event.batches
            for key, value in event.logs.items():
                self.history.setdefault(key, []).append(float(value))
        elif event.kind == "step":
            if self.train_started is None:
                self.train_started = time.time()
            self.step, self.steps = event.step, event.steps
            self.message = event.message or self.message
        if event.kind != "end":
            self.phase_fraction = event.fraction
            self.fraction = max(self.fraction, event.fraction)
            if self.eta is not None and event.kind in ("batch", "epoch", "step"):
                self.eta.update(event.fraction, epoch_end=event.kind == "epoch")

    def snapshot(self) -> JobState:
        """An immutable deep copy of the record."""
        eta = None
        fraction = self.fraction
        if self.status in ("training", "evaluating") and self.eta is not None:
            eta = self.eta.remaining()
            if eta is not None and self.train_started:
                spent = time.time() - self.train_started
                fraction = spent / max(spent + eta, 1e-9)  # the share of the whole run's time, every phase
        elif self.status == "done":
            fraction = 1.0
        return JobState(
            job_id=self.job_id,
            model=self.model,
            display_name=self.display_name,
            family=self.family,
            owner=self.owner,
            params=copy.deepcopy(self.params),
            limit=self.limit,
            status=self.status,
            started_at=self.started_at,
            finished_at=self.finished_at,
            message=self.message,
            epoch=self.epoch,
            epochs=self.epochs,
            batch=self.batch,
            batches=self.batches,
            step=self.step,
            steps=self.steps,
            batch_logs=dict(self.batch_logs),
            history={k: list(v) for k, v in self.history.items()},
            fraction=fraction,
            epoch_fraction=self.batch / self.batches if self.batches else 0.0,
            eta_seconds=eta,
            phase=self.phase,
            phase_label=self.phase_label or PHASE_LABELS.get(self.phase, ""),
            phase_fraction=self.phase_fraction,
            phases=tuple(self.eta.plan) if self.eta is not None else (),
            preset=self.preset,
            stop_requested=self.stop_requested(),
            run_dir=self.run_dir,
            artifact_dir=self.artifact_dir,
            card=copy.deepcopy(self.card),
            error=self.error,
            installed_to=self.installed_to,
        )


class JobManager:
    """Runs at most one training job at a time in a background thread."""

    def __init__(self, runs_dir: Path | None = None) -> None:
        self._runs_dir = runs_dir
        self._lock = threading.Lock()
        self._record: _JobRecord | None = None
        self._thread: threading.Thread | None = None
        self._queue: list[dict[str, Any]] = []  # the runs still to start after the current one
        self._queue_dir: Path | None = None
        self._queue_id = 0  # which queue the waiting runs belong to (a run knows its queue's id)

    def start_queue(self, requests: list[dict[str, Any]], *, name: str = "lesson") -> Path:
        """Run several trainings one after another into one folder (``runs/STAMP-name/MODEL``).

        Each request holds :meth:`start`'s keyword arguments plus ``name``. The next run starts as the
        previous one ends, with no gap for another start; the queue ends early when a run is stopped.
        Returns the folder, which :func:`fer_core.artifacts.list_cards` reads as a set.
        """
        if not requests:
            raise ValueError("Nothing to train.")
        checked = [self._checked(dict(r)) for r in requests]
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        folder = self.runs_dir / f"{stamp}-{name}"
        with self._lock:
            self._raise_if_busy()
            self._queue_id += 1
            self._queue = [dict(r, run_dir=folder) for r in checked[1:]]
            self._queue_dir = folder
            self._start_locked(dict(checked[0], run_dir=folder), queue_id=self._queue_id)
        return folder

    def queue_state(self) -> tuple[Path | None, list[str]]:
        """The folder of the current (or last) queue and the models still waiting in it."""
        with self._lock:
            return self._queue_dir, [r["name"] for r in self._queue]

    def _start_next(self, record: _JobRecord) -> None:
        """After ``record`` ended: start its queue's next run, unless it was stopped (that ends the queue)."""
        with self._lock:
            if record.queue_id is None or record.queue_id != self._queue_id:
                return  # not part of the current queue
            if record.stop_requested() or not self._queue:
                self._queue = []
                return
            request = self._queue.pop(0)
            try:
                self._start_locked(request, queue_id=record.queue_id)
            except Exception as exc:  # noqa: BLE001 - a queue that cannot go on ends; the server keeps serving
                logger.warning("The queued %s run did not start: %s", request.get("name"), exc)
                self._queue = []

    @property
    def runs_dir(self) -> Path:
        return Path(self._runs_dir) if self._runs_dir is not None else default_runs_dir()

    def snapshot(self) -> JobState | None:
        """The current (or last finished) job, or None if none has run."""
        with self._lock:
            return self._record.snapshot() if self._record is not None else None

    def start(
        self,
        name: str,
        *,
        params: dict[str, Any] | None = None,
        limit: int | None = None,
        owner: str = "Someone",
        data_dir: str | os.PathLike[str] | None = None,
        session: str | None = None,
        preset: str | None = None,
        plan: dict[str, float] | None = None,
        run_dir: Path | None = None,
    ) -> JobState:
        """Start training ``name`` in the background; raise JobBusyError if a job (or a queue) is running.

        ``preset`` names the preset the settings come from (shown on the page); ``plan`` gives each
        phase's expected seconds for the time left (see :mod:`fer_core.eta`); without one the phases'
        relative sizes are assumed and the time left is told once the first phase shows its pace.
        """
        request = self._checked(
            {"name": name, "params": params, "limit": limit, "owner": owner, "data_dir": data_dir,
             "session": session, "preset": preset, "plan": plan, "run_dir": run_dir}
        )  # fmt: skip
        with self._lock:
            self._raise_if_busy()
            return self._start_locked(request)

    @staticmethod
    def _checked(request: dict[str, Any]) -> dict[str, Any]:
        """A start request with its parameters checked (here, in the page's thread, not later in the child)."""
        get_spec(request["name"]).check_params(dict(request.get("params") or {}))
        limit = request.get("limit")
        if limit is not None and limit < 50:
            raise ValueError("Train on at least 50 images, or the validation split has nothing to check.")
        return request

    def _raise_if_busy(self) -> None:
        """JobBusyError if a run is going, or a queue is between two of its runs (lock held)."""
        record = self._record
        if record is not None and record.status in ACTIVE_STATUSES:
            raise JobBusyError(record.snapshot().describe())
        if self._queue:
            owner = record.owner if record is not None else "Someone"
            waiting = ", ".join(get_spec(r["name"]).display_name for r in self._queue)
            raise JobBusyError(f"{owner} is training several models one after another (next: {waiting}).")

    def _start_locked(self, request: dict[str, Any], queue_id: int | None = None) -> JobState:
        """Create the job's record and its supervising thread (the lock is held).

        ``request`` holds :meth:`start`'s arguments by name (checked by :meth:`_checked`).
        """
        name, run_dir = request["name"], request.get("run_dir")
        plan, owner = request.get("plan"), request.get("owner") or "Someone"
        spec = get_spec(name)
        params = dict(request.get("params") or {})
        limit = request.get("limit")
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        context = mp.get_context("spawn")  # never fork a process that has TensorFlow loaded
        record = _JobRecord(
            job_id=f"{stamp}-{name}",
            model=name,
            display_name=spec.display_name,
            family=spec.family,
            owner=owner.strip() or "Someone",
            params=params,
            limit=limit,
            run_dir=Path(run_dir) if run_dir is not None else self.runs_dir / f"{stamp}-{name}",
            stop=context.Event(),
            session=request.get("session"),
            preset=request.get("preset"),
            eta=PhaseEta(plan) if plan else PhaseEta(relative_plan(name, params), absolute=False),
            queue_id=queue_id,
        )
        self._record = record
        root = str(resolve_data_dir(request.get("data_dir")))
        self._thread = threading.Thread(
            target=self._supervise, args=(record, context, root), name=f"fer-train-{name}", daemon=True
        )
        self._thread.start()
        return record.snapshot()

    def owned_by(self, session: str | None) -> bool:
        """True if ``session`` may stop or install the current job (its starter, or any for page-less jobs)."""
        with self._lock:
            record = self._record
            return record is None or record.session is None or record.session == session

    def _check_owner(self, session: str | None, action: str) -> None:
        if not self.owned_by(session):
            with self._lock:
                owner = self._record.owner if self._record else "someone"
            raise NotYourJobError(f"Only {owner}, who started this run in their own browser tab, can {action} it.")

    def stop(self, session: str | None = None) -> None:
        """Ask the running job to stop at the next batch (keeping the best weights so far); ends a queue."""
        self._check_owner(session, "stop")
        with self._lock:
            self._queue = []
            if self._record is not None and self._record.status in ACTIVE_STATUSES:
                self._record.stop.set()
                if self._record.status == "training":
                    self._record.status = "stopping"
                    self._record.message = "Stopping at the next batch"

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job (and the rest of its queue, if any) has ended; True if it has."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            thread = self._thread
            if thread is None:
                return True
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                return False
            if self._thread is thread:  # no queued run took over
                return True

    def install(self, models_dir: Path | None = None, session: str | None = None) -> Path:
        """Install the finished job's model into the models folder ("Use this model").

        The model it replaces is kept as an earlier version (see :func:`fer_core.artifacts.restore_version`).
        """
        self._check_owner(session, "install")
        with self._lock:
            record = self._record
            if record is None or record.status != "done" or record.artifact_dir is None:
                raise FerError("There is no finished training run to install yet.")
            source = record.artifact_dir
        target = install_artifact(source, models_dir)
        with self._lock:
            record.installed_to = target
        return target

    def _supervise(self, record: _JobRecord, context: Any, data_dir: str) -> None:
        """Run the child process and fold its messages into ``record`` until it ends."""
        messages = context.Queue()
        process = context.Process(
            target=_train_in_child,
            args=(record.model, record.params, record.limit, data_dir, str(record.run_dir), messages, record.stop),
            name=f"fer-train-{record.model}",
            daemon=True,
        )
        outcome: tuple[Any, ...] | None = None
        try:
            process.start()
            while outcome is None:
                try:
                    message = messages.get(timeout=0.5)
                except queue.Empty:
                    if not process.is_alive():
                        break
                    continue
                with self._lock:
                    outcome = self._apply(record, message)
        except Exception as exc:  # any failure must reach the page, not kill the server
            logger.exception("Supervising the %s training failed", record.model)
            outcome = ("error", f"{type(exc).__name__}: {exc}")
        finally:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
            with self._lock:
                if outcome is None:
                    reason = (
                        f"The training process ended unexpectedly (exit code {process.exitcode}); "
                        "it may have run out of memory — try a smaller subset."
                    )
                    outcome = ("error", reason)
                if outcome[0] == "error":
                    record.status = "failed"
                    record.error = outcome[1]
                    record.message = "Training failed"
                record.finished_at = time.time()
        self._start_next(record)

    @staticmethod
    def _apply(record: _JobRecord, message: tuple[Any, ...]) -> tuple[Any, ...] | None:
        """Fold one child message into the record (lock held); return it if it ends the job."""
        kind = message[0]
        if kind == "loaded":
            record.status = "stopping" if record.stop_requested() else "training"
            record.message = f"Training {record.display_name}"
        elif kind == "event":
            record.apply(message[1])
        elif kind == "done":
            card, path = message[1], message[2]
            record.card = card
            record.artifact_dir = Path(path) if path else None
            record.status = "done"
            record.fraction = 1.0
            stopped = " (stopped early)" if card.stopped_early else ""
            record.message = f"Finished{stopped}: test accuracy {card.test_accuracy:.1%}"
            return message
        elif kind == "error":
            return message
        return None


class _StopEvent:
    """Adapts a multiprocessing Event to the :class:`StopFlag` interface that training polls."""

    def __init__(self, event: Any) -> None:
        self._event = event

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()


def _train_in_child(
    name: str, params: dict[str, Any], limit: int | None, data_dir: str, run_dir: str, messages: Any, stop: Any
) -> None:
    """Entry point of the training process: load the data, train, report everything through ``messages``."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        dataset = load_dataset(data_dir)
        messages.put(("loaded",))
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        result = train_model(
            name,
            dataset,
            params=params,
            limit=limit,
            out_dir=Path(run_dir),
            callback=lambda event: messages.put(("event", event)),
            stop=_StopEvent(stop),  # type: ignore[arg-type]  # duck-typed StopFlag
        )
        messages.put(("done", result.card, str(result.path) if result.path else None))
    except Exception as exc:  # reported to the page as a sentence
        logger.exception("Training %s failed", name)
        messages.put(("error", str(exc) if isinstance(exc, FerError) else f"{type(exc).__name__}: {exc}"))


def queue_folders(runs_dir: Path | None = None, name: str = "lesson") -> list[Path]:
    """Folders of finished or running queues (``STAMP-name``) holding at least one model card, newest first."""
    root = Path(runs_dir) if runs_dir is not None else default_runs_dir()
    if not root.is_dir():
        return []
    found = [f for f in root.glob(f"*-{name}") if f.is_dir() and any(f.glob("*/card.json"))]
    return sorted(found, reverse=True)


_manager: JobManager | None = None
_manager_lock = threading.Lock()


def get_manager() -> JobManager:
    """The process-wide job manager shared by every browser session of this server."""
    global _manager
    with _manager_lock:
        if _manager is None:
            _manager = JobManager()
        return _manager

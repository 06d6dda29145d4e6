"""Command line: ``python -m fer_core {data-summary,train,evaluate,predict,video,models}``.

Bad input ends with a non-zero exit code and one clear line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fer_core.artifacts import default_models_dir, list_cards, load_model
from fer_core.constants import EMOTIONS
from fer_core.data import load_dataset
from fer_core.errors import FerError
from fer_core.evaluation import evaluate, rounded
from fer_core.faces import DEFAULT_DETECTOR, DETECTORS, make_detector, predict_image
from fer_core.ferplus import CREDIT, FerPlusTest
from fer_core.images import read_image
from fer_core.models import MODEL_NAMES, REGISTRY, get_spec, networks
from fer_core.models.registry import params_by_model
from fer_core.presets import PRESET_NAMES, get_preset
from fer_core.progress import StopFlag
from fer_core.summary import summarize
from fer_core.training import train_model

EXIT_USER_ERROR = 2


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _parse_params(pairs: Sequence[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise FerError(f"--param expects KEY=VALUE (e.g. learning_rate=0.001), got {pair!r}.")
        params[key.strip()] = _parse_value(value.strip())
    return params


def _model_names(name: str) -> list[str]:

    if name == "all":
        return list(MODEL_NAMES)
    return [get_spec(n.strip()).name for n in name.split(",")]


class _TqdmProgress:
    """Draw ProgressEvents as tqdm bars on stderr."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.bar: Any = None

    def __call__(self, event: Any) -> None:
        from tqdm import tqdm

        if event.kind == "phase":
            if self.bar is not None:  # each phase gets its own bar
                self.bar.close()
                self.bar = None
            tqdm.write(f"[{self.name}] {event.message}", file=sys.stderr)
        elif event.kind == "message":
            tqdm.write(f"[{self.name}] {event.message}", file=sys.stderr)
        elif event.kind == "step":
            self._bar(event.steps, "work").update(event.step - self.bar.n)
        elif event.kind == "batch":
            bar = self._bar(event.epochs * event.batches, "batches")
            bar.update((event.epoch - 1) * event.batches + event.batch - bar.n)
            bar.set_postfix(epoch=f"{event.epoch}/{event.epochs}", loss=f"{event.logs.get('loss', 0):.3f}")
        elif event.kind == "epoch":
            logs = event.logs
            tqdm.write(
                f"[{self.name}] epoch {event.epoch}/{event.epochs} loss {logs.get('loss', 0):.4f} "
                f"acc {logs.get('accuracy', 0):.4f} val_loss {logs.get('val_loss', float('nan')):.4f} "
                f"val_acc {logs.get('val_accuracy', float('nan')):.4f}",
                file=sys.stderr,
            )
        elif event.kind == "end" and self.bar is not None:
            self.bar.close()
            self.bar = None

    def _bar(self, total: int, unit: str) -> Any:
        from tqdm import tqdm

        if self.bar is None or self.bar.total != total:
            if self.bar is not None:
                self.bar.close()
            self.bar = tqdm(total=total, desc=self.name, unit=unit, file=sys.stderr, leave=False, mininterval=1.0)
        return self.bar


def cmd_data_summary(args: argparse.Namespace) -> int:

    dataset = load_dataset(args.data)
    if args.json or args.out:
        summary = summarize(dataset)
        if args.out:
            Path(args.out).write_text(json.dumps(summary) + "\n")
        if args.json:
            print(json.dumps(summary))
            return 0
    counts = dataset.counts()
    print(f"FER2013 at {dataset.source}")
    print(f"{'emotion':<10}{'train':>8}{'test':>8}")
    for emotion in EMOTIONS:
        print(f"{emotion:<10}{counts['train'][emotion]:>8}{counts['test'][emotion]:>8}")
    print(f"{'total':<10}{len(dataset.y_train):>8}{len(dataset.y_test):>8}")
    if dataset.report.n_skipped:
        print(f"skipped {dataset.report.n_skipped} unreadable file(s)")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    names = _model_names(args.model)
    per_model = params_by_model(names, _parse_params(args.param))  # unknown keys end here, valid ones listed
    for name in names:  # --epochs and --seed apply to the models that have them (no epochs for a forest)
        options = {"epochs": args.epochs, "seed": args.seed}
        taken = get_spec(name).default_params
        per_model[name].update({k: v for k, v in options.items() if v is not None and k in taken})
    limits = dict.fromkeys(names, args.limit)
    if args.preset:  # the preset's settings, under whatever was given explicitly
        for name in names:
            preset = get_preset(name, args.preset)
            taken = dict(preset.params)
            if "epochs" in per_model[name]:  # an explicit epoch count means one network of that many epochs
                taken.pop("ensemble_epochs", None)
            per_model[name] = {**taken, **per_model[name]}
            limits[name] = args.limit if args.limit is not None else preset.limit
    dataset = load_dataset(args.data)

    out_dir = Path(args.out) if args.out else default_models_dir()
    summary = []
    for name in names:
        stop = StopFlag()
        timer = None
        if args.max_minutes:
            timer = threading.Timer(args.max_minutes * 60, stop.set)
            timer.daemon = True
            timer.start()
        started = time.perf_counter()
        result = train_model(
            name,
            dataset,
            params=per_model[name],
            limit=limits[name],
            out_dir=out_dir,
            callback=_TqdmProgress(name),
            stop=stop,
            checkpoint_dir=Path(args.checkpoint) / name if args.checkpoint else None,
        )
        if timer is not None:
            timer.cancel()
        seconds = time.perf_counter() - started
        card = result.card
        summary.append((name, card.test_accuracy, card.test_macro_f1, seconds))
        print(
            f"{name}: test accuracy {card.test_accuracy:.4f} macro-F1 {card.test_macro_f1:.4f}"
            f"{' (flip TTA)' if card.headline_tta else ''} in {seconds:.0f} s -> {result.path}",
            flush=True,
        )
    if len(summary) > 1:
        print(f"\n{'model':<15}{'accuracy':>10}{'macro-F1':>10}{'seconds':>10}")
        for name, acc, f1, seconds in summary:
            print(f"{name:<15}{acc:>10.4f}{f1:>10.4f}{seconds:>10.0f}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:

    names = _model_names(args.model)
    models_dir = Path(args.models_dir) if args.models_dir else None
    dataset = load_dataset(args.data)
    # Read before any model loads, so a missing votes file is said at once.
    ferplus = FerPlusTest.load(args.data, args.ferplus or None) if args.ferplus is not None else None
    results: dict[str, Any] = {}
    for name in names:
        model, card = load_model(name, models_dir)
        tta = card.headline_tta if args.tta is None else args.tta
        metrics = rounded(evaluate(model, dataset.x_test, dataset.y_test, tta=tta))
        metrics["card_accuracy"] = card.test_accuracy
        if ferplus is not None:
            metrics["ferplus"] = rounded(ferplus.score(model.predict(ferplus.faces, tta=tta)))
        results[name] = metrics
    if args.json:
        print(json.dumps(results))
        return 0
    header = f"{'model':<15}{'accuracy':>10}{'macro-F1':>10}{'card':>10}{'TTA':>6}"
    print(header + (f"{'FER+ majority':>15}" if ferplus else ""))
    for name, m in results.items():
        card_acc = "-" if m["card_accuracy"] is None else m["card_accuracy"]
        tta = "yes" if m["tta"] else "no"
        line = f"{name:<15}{m['accuracy']:>10.4f}{m['macro_f1']:>10.4f}{card_acc:>10}{tta:>6}"
        print(line + (f"{m['ferplus']['accuracy']:>15.4f}" if ferplus else ""))
    if ferplus is not None:
        first = next(iter(results.values()))["ferplus"]
        print(
            f"FER+ majority: {first['n']:,} test faces with a clear majority of 10 annotators; FER2013's own label "
            f"agrees with it on {first['fer2013_label_agreement']:.1%}. ({CREDIT})"
        )
    return 0


def cmd_predict(args: argparse.Namespace) -> int:

    name = args.model or list_cards().photo_model()
    if name is None:
        raise FerError("No trained model is installed in artifacts/models; run `python -m fer_core train cnn` first.")
    outputs: list[dict[str, Any]] = []
    images: list[Any] = []
    failures = 0
    for path in args.images:  # read everything first: bad input never waits for a model to load
        entry: dict[str, Any] = {"path": path, "faces": [], "error": None}
        try:
            images.append(read_image(Path(path)))
        except FerError as exc:
            entry["error"] = str(exc)
            images.append(None)
            failures += 1
        outputs.append(entry)
    if any(image is not None for image in images):
        model, _ = load_model(name)
        detector = make_detector(args.detector)
        for entry, image in zip(outputs, images):
            if image is not None:
                faces = predict_image(image, model, detector, whole_image=args.whole_image)
                entry["faces"] = [face.to_dict() for face in faces]
    if args.json:
        print(json.dumps(outputs))
    else:
        for entry in outputs:
            if entry["error"]:
                print(f"{entry['path']}: {entry['error']}")
            elif not entry["faces"]:
                print(f"{entry['path']}: no face found (try --whole-image for a cropped face)")
            for i, face in enumerate(entry["faces"], 1):
                answer = f"{face['emotion']} ({face['confidence']:.0%})"
                if face["not_sure"]:
                    answer = f"not sure: {answer}, {', '.join(face['why'])}"
                print(f"{entry['path']}: face {i} at {face['box']}: {answer}")
    if failures:
        first = next(e for e in outputs if e["error"])
        print(f"error: {first['path']}: {first['error']}", file=sys.stderr)
        return EXIT_USER_ERROR
    return 0


def cmd_video(args: argparse.Namespace) -> int:
    from fer_core.video import VideoSettings, analyse_video, probe_video

    settings = VideoSettings(every=args.every, smoothing_window=args.smoothing)
    info = probe_video(Path(args.clip))  # bad input fails here, before any model loads
    name = args.model or list_cards().photo_model()
    if name is None:
        raise FerError("No trained model is installed in artifacts/models; run `python -m fer_core train cnn` first.")
    model, _ = load_model(name)
    detector = make_detector(args.detector)
    bar = None
    if not args.json and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=info.frames or None, unit="frame", desc=info.name, file=sys.stderr)

    def progress(event: Any) -> None:
        if bar is not None:
            bar.update(event.frames_done - bar.n)

    try:
        analysis = analyse_video(
            Path(args.clip),
            model,
            detector,
            settings=settings,
            annotated_path=Path(args.annotated) if args.annotated else None,
            on_progress=progress,
        )
    finally:
        if bar is not None:
            bar.close()
    if args.csv:
        Path(args.csv).write_text(analysis.csv_text(), encoding="utf-8")
    if args.json:
        print(analysis.json_text())
        return 0
    print(
        f"{info.name}: {analysis.frames_decoded:,} frames ({info.duration_s:.1f} s at {info.fps:.2f} fps), "
        f"{len(analysis.frames):,} classified with {model.spec.display_name} in {analysis.seconds:.1f} s "
        f"({analysis.speed:.1f}x real time)"
    )
    if analysis.note:
        print(f"note: {analysis.note}")
    people = analysis.people()
    if not people:
        print("no face found in the clip")
    for person in people:
        shares = ", ".join(f"{e} {v:.0%}" for e, v in sorted(person.emotion_shares.items(), key=lambda kv: -kv[1]) if v)
        print(
            f"person {person.id}: seen in {person.frames_seen:,} frames "
            f"({person.first_s:.1f}-{person.last_s:.1f} s): {shares}"
        )
    for change in analysis.changes():
        print(f"{change['t']:8.2f} s  person {change['id']}: {change['from']} -> {change['to']}")
    for path, what in ((args.csv, "CSV"), (args.annotated, "annotated video")):
        if path:
            print(f"{what} written to {path}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:

    cards = list_cards(Path(args.models_dir) if args.models_dir else None)
    for name, spec in REGISTRY.items():
        accuracy = cards.headline_accuracy(name)
        if not cards.is_trained(name):
            status = cards.errors[name]
        elif accuracy is None:
            status = "trained, not evaluated on the test split"
        else:
            status = f"test accuracy {accuracy:.4f}"
        print(f"{name:<15}{spec.display_name:<22}{status}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fer_core", description="FER Studio: facial emotion recognition.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("data-summary", help="counts and statistics of the dataset")
    p.add_argument("--data", help="dataset folder, .csv or .zip (default: $FER_DATA_DIR or data/fer2013)")
    p.add_argument("--json", action="store_true", help="print the full summary as JSON")
    p.add_argument("--out", help="also write the JSON summary to this file")
    p.set_defaults(func=cmd_data_summary)

    p = sub.add_parser("train", help="train a model (or all) and write its artifact")
    p.add_argument("model", help="model name, comma-separated names, or 'all'")
    p.add_argument("--data")
    p.add_argument("--epochs", type=int)
    p.add_argument("--limit", type=int, help="train on a stratified subset of this many images")
    p.add_argument("--out", help="models folder to write to (default artifacts/models)")
    p.add_argument("--seed", type=int)
    p.add_argument("--param", action="append", default=[], help="override a parameter: KEY=VALUE (JSON values)")
    p.add_argument("--max-minutes", type=float, help="stop training after this long, keeping the best weights")
    p.add_argument(
        "--preset",
        choices=PRESET_NAMES,
        help="lesson: done within 5 minutes on 2 CPU cores; full: the recipe on all of train "
        "(--epochs, --limit and --param still override it)",
    )
    p.add_argument(
        "--checkpoint",
        metavar="DIR",
        help="save a network checkpoint into DIR/MODEL after every epoch, and resume from it if one is there",
    )
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="evaluate installed models on the test split")
    p.add_argument("model", help="model name or 'all'")
    p.add_argument("--data")
    p.add_argument("--json", action="store_true")
    p.add_argument("--tta", action=argparse.BooleanOptionalAction, default=None, help="flip TTA (default: as the card)")
    p.add_argument("--models-dir")
    p.add_argument(
        "--ferplus",
        nargs="?",
        const="",
        metavar="VOTES.csv",
        help="also score against the FER+ crowd majority (default file: $FER_FERPLUS_VOTES or "
        "<data>/../ferplus/votes.csv)",
    )
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="find faces in photos and predict their emotions")
    p.add_argument("images", nargs="+")
    p.add_argument("--model", help="model name (default: the best installed)")
    p.add_argument("--whole-image", action="store_true", help="treat each image as one already-cropped face")
    p.add_argument(
        "--detector",
        choices=list(DETECTORS),
        default=DEFAULT_DETECTOR,
        help=f"face detector (default {DEFAULT_DETECTOR}): " + "; ".join(f"{k}: {v}" for k, v in DETECTORS.items()),
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("video", help="every face's emotions over time in a video file")
    p.add_argument("clip", help="a video file (MP4, MOV, WebM, AVI, MKV, ...)")
    p.add_argument("--every", type=int, default=1, help="classify every Nth frame (default 1: all)")
    p.add_argument("--model", help="model name (default: the best installed for real faces)")
    p.add_argument(
        "--detector",
        choices=list(DETECTORS),
        default="haar",
        help="face detector (default haar: fast enough for every frame; mtcnn finds more, about 5x slower)",
    )
    p.add_argument("--smoothing", type=int, default=5, help="frames each person's probabilities are averaged over")
    p.add_argument("--csv", help="write one row per face per classified frame to this CSV file")
    p.add_argument("--annotated", help="write a copy with boxes and emotions to this MP4 file (H.264)")
    p.add_argument("--json", action="store_true", help="print one JSON object with every frame's faces")
    p.set_defaults(func=cmd_video)

    p = sub.add_parser("models", help="list registered models and whether they are trained")
    p.add_argument("--models-dir")
    p.set_defaults(func=cmd_models)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    args = build_parser().parse_args(argv)
    # TensorFlow 2.21 prints oneDNN notices on stderr whatever the log level; keep stderr for errors by
    # importing it quietly, never by switching oneDNN off: without it a CNN trains 1.5x slower in
    # float32, predicts about 1.4x slower, and bfloat16 falls back to emulation, about 30x slower.
    networks.QUIET_IMPORT = True
    try:
        return int(args.func(args))
    except (FerError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as exc:  # a folder that cannot be written, a disk that is full, ...
        where = f": {exc.filename}" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("error: out of memory; try --limit to train on fewer images", file=sys.stderr)
        return 1

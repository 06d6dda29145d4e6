"""What the pages show, computed without Streamlit: tables and sentences from cards (views) and figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from test_cards import evaluated_card

from fer_core import views
from fer_core.cards import ModelCard, ModelCards
from fer_core.constants import EMOTIONS
from fer_core.faces import FacePrediction
from fer_core.live import LiveSnapshot, TimelinePoint
from fer_ui import figures


def zoo_cards() -> ModelCards:
    forest = evaluated_card("random_forest", 0.45)
    return ModelCards(
        cards={"logreg": evaluated_card("logreg", 0.5), "random_forest": forest, "cnn": evaluated_card("cnn", 0.7)},
        errors={"mlp": "not trained yet"},
    )


class TestCardViews:
    def test_leaderboard_is_sorted_and_the_note_names_the_best(self) -> None:
        cards = zoo_cards()
        board = views.leaderboard(cards)
        assert list(board["name"]) == ["cnn", "logreg", "random_forest"]
        note = views.leaderboard_note(cards)
        assert "**Best CNN** with 70.0% accuracy on 100 test images" in note
        assert "always answering *angry* would score 15.0%" in note  # classes 0 and 1 have 15 faces of 100
        assert views.leaderboard_note(ModelCards(cards={}, errors={})) == "No model is trained yet."

    def test_comparison_table_and_note(self) -> None:
        table = views.comparison_table(zoo_cards())
        assert list(table["Model"]) == ["Logistic regression", "Random forest", "Best CNN"]
        assert table["Accuracy"].tolist() == pytest.approx([0.5, 0.45, 0.7])
        assert views.best_in_column(table)["Accuracy"] == pytest.approx(0.7)
        assert views.comparison_note(zoo_cards()).startswith("The most accurate model here is **Best CNN** at 70.0%")

    def test_worst_confusion_is_the_largest_off_diagonal_share(self) -> None:
        card = evaluated_card("cnn", 0.7)  # every mistake is "the next emotion"
        true_emotion, predicted, share = views.worst_confusion(card)
        recall = views.confusion(card, normalised=True)
        assert EMOTIONS.index(predicted) == (EMOTIONS.index(true_emotion) + 1) % 7
        assert share == pytest.approx(recall[EMOTIONS.index(true_emotion), EMOTIONS.index(predicted)])
        assert share == pytest.approx((recall - np.diag(np.diag(recall))).max())
        assert f"{share:.0%} of **{true_emotion}** faces are called **{predicted}**" in views.worst_confusion_note(card)

    def test_f1_note_names_the_easiest_and_hardest_emotion(self) -> None:
        f1 = pd.DataFrame(
            [{"model": m, "emotion": e, "F1": 0.9 if e == "happy" else 0.1 if e == "fear" else 0.5}
             for m in ("a", "b") for e in EMOTIONS]
        )  # fmt: skip
        assert views.f1_note(f1) == (
            "Averaged over the models, **happy** is the easiest emotion (mean F1 0.90) and **fear** the hardest (0.10)."
        )

    def test_training_comparison_puts_the_run_first(self) -> None:
        run, installed = evaluated_card("cnn_basic", 0.4), evaluated_card("cnn_basic", 0.55)
        run.training_seconds = 125
        table = views.training_comparison(run, installed)
        assert table[""].tolist() == ["This run", "Installed model"]
        assert table["Accuracy"].tolist() == pytest.approx([0.4, 0.55])
        assert table["Training time"].iloc[0] == "2 min 05 s"
        assert len(views.training_comparison(run, None)) == 1

    def test_logreg_note_uses_the_cards_own_numbers(self) -> None:
        card = evaluated_card("logreg", 0.5)
        assert "HOG" not in views.logreg_weights_note(card)
        card.params["features"] = "hog+pixels"
        assert "show only its pixel weights" in views.logreg_weights_note(card)
        shared = views.logreg_weights_note(card, weight_share=0.56)
        assert "only the pixel weights, 56% of the model's total weight; the other 44% sits on HOG" in shared
        assert "raw pixels alone" not in views.logreg_weights_note(card)  # no measured number, no claim
        card.extra["features_experiment"] = {"pixels_only": {"test_accuracy": 0.3741}}
        assert "on raw pixels alone the same classifier scores about 37% instead of 50%" in views.logreg_weights_note(
            card
        )

    def test_ferplus_column_and_note(self) -> None:
        cards = zoo_cards()
        assert views.ferplus_note(cards) is None and views.comparison_table(cards)["FER+ majority"].isna().all()
        cards.cards["cnn"].ferplus_test = {"n": 6721, "accuracy": 0.6768, "fer2013_label_agreement": 0.6547}
        table = views.comparison_table(cards)
        assert table.set_index("Model")["FER+ majority"]["Best CNN"] == pytest.approx(0.6768)
        assert "6,721 test faces" in views.ferplus_note(cards) and "65.5%" in views.ferplus_note(cards)

    def test_the_detector_prefers_an_image_model(self) -> None:
        cards = zoo_cards()
        assert views.default_detector_model(cards) == "cnn"
        no_cnn = ModelCards(cards={"logreg": evaluated_card("logreg", 0.5)}, errors={})
        assert views.default_detector_model(no_cnn) == "logreg"


class TestPageNotes:
    def test_models_not_compared_include_trained_ones_without_test_numbers(self) -> None:
        cards = zoo_cards()
        cards.cards["lstm"] = ModelCard(name="lstm")
        reasons = views.not_compared(cards)
        assert list(reasons) == ["mlp", "lstm"] and "without test-split numbers" in reasons["lstm"]

    def test_training_done_note(self) -> None:
        card = evaluated_card("cnn_basic", 0.49)
        card.training_seconds, card.n_train, card.stopped_early = 300, 4000, True
        note = views.training_done_note("Basic CNN", card)
        assert note.startswith("Finished training Basic CNN in 5 min 00 s on 4,000 images: test accuracy 49.0%.")
        assert note.endswith("the best weights so far were kept.")

    def test_dataset_counts_note(self) -> None:
        counts = {split: {e: 1000 + i for i, e in enumerate(EMOTIONS)} for split in ("train", "test")}
        assert views.dataset_counts_note(counts).startswith("Per emotion (train / test): angry 1,000 / 1,000 · ")

    def test_photo_notes_say_when_faces_are_not_detailed(self) -> None:
        from fer_core.photo import PhotoAnalysis

        face = FacePrediction((0, 0, 10, 10), "happy", 1.0, {e: float(e == "happy") for e in EMOTIONS})

        def analysis(n: int, detailed: int) -> PhotoAnalysis:
            return PhotoAnalysis("p", 100, 100, [face] * n, np.zeros((n, 48, 48), np.uint8), list(range(detailed)),
                                 np.zeros((100, 100, 3), np.uint8), "cnn", 12.3)  # fmt: skip

        assert views.photo_faces_notes(analysis(1, 1)) == ("1 face found in 12 ms, numbered left to right", None)
        caption, note = views.photo_faces_notes(analysis(25, 20))
        assert caption.startswith("25 faces found") and "details below are for the 20 largest (5 smaller" in note


class TestSentences:
    @pytest.mark.parametrize(
        ("seconds", "text"), [(None, "—"), (42.4, "42 s"), (185, "3 min 05 s"), (3720, "1 h 02 min")]
    )
    def test_format_seconds(self, seconds: float | None, text: str) -> None:
        assert views.format_seconds(seconds) == text

    def test_importance_note_finds_the_rows(self) -> None:
        importance = np.zeros((48, 48))
        importance[30:35, :] = np.linspace(0.1, 1.0, 48)  # the mouth rows matter
        assert "rows 30–34 (of 48)" in views.importance_note(importance)

    def test_live_status(self) -> None:
        snapshot = LiveSnapshot(frames=10, fps=9.96, milliseconds_per_frame=12.2, n_faces=1, largest=None,
                                timeline=(), error=None)  # fmt: skip
        assert views.live_status(snapshot) == "10.0 frames per second · 12 ms per frame · 1 face in view"


class TestFigures:
    def test_probability_chart_has_seven_bars_in_emotion_order(self) -> None:
        probabilities = {e: i / 21 for i, e in enumerate(EMOTIONS)}
        fig = figures.probability_chart(probabilities)
        assert list(fig.data[0].y) == list(EMOTIONS) and fig.data[0].x == pytest.approx(list(probabilities.values()))

    def test_timeline_chart_keeps_the_last_minute(self) -> None:
        face = FacePrediction((0, 0, 1, 1), "happy", 1.0, {e: float(e == "happy") for e in EMOTIONS})
        points = tuple(TimelinePoint(float(t), "happy", 1.0, face.probabilities) for t in range(0, 120, 10))
        snapshot = LiveSnapshot(12, 1.0, 1.0, 1, face, points, None)
        fig = figures.timeline_chart(snapshot)
        assert len(fig.data) == 7 and min(fig.data[0].x) == 50.0 and max(fig.data[0].x) == 110.0

    def test_confusion_figure_labels_percentages(self) -> None:
        fig = figures.confusion_figure(np.eye(7) * 0.5, normalised=True)
        assert isinstance(fig, go.Figure) and fig.data[0].text[0][0] == "50%"

    def test_weights_figure_shares_one_symmetric_scale(self) -> None:
        weights = np.random.default_rng(0).normal(size=(7, 48, 48))
        fig = figures.weights_figure(weights)
        limit = float(np.abs(weights).max())
        assert len(fig.data) == 7 and all(t.zmin == -limit and t.zmax == limit for t in fig.data)

    def test_card_without_test_numbers_has_no_headline(self) -> None:
        with pytest.raises(ValueError, match="not evaluated"):
            views.comparison_row(ModelCard(name="cnn"))


class TestTeachingNotesMatchTheirNumbers:
    def histogram(self, black: float, white: float) -> dict:
        counts = np.full(256, 1000.0)
        counts[0], counts[255] = 1000 * black, 1000 * white
        return {"pixel_histogram": {"train": counts.tolist()}, "pixel_mean": 128.0, "pixel_std": 60.0}

    def test_pile_up_only_when_the_ends_stand_out(self) -> None:
        from fer_core.views import histogram_note

        assert "so black and white pile up" in histogram_note(self.histogram(2.0, 3.0))
        assert "so white piles up" in histogram_note(self.histogram(1.02, 3.0))
        flat = histogram_note(self.histogram(1.02, 1.01))
        assert "neither end piles up" in flat and "1.0x its neighbouring levels" in flat

    def test_leaderboard_note_uses_the_ferplus_numbers_of_the_card(self) -> None:
        from fer_core.artifacts import list_cards
        from fer_core.views import leaderboard_note

        cards = list_cards()
        best = cards.cards[cards.best(among=cards.evaluated)]
        note = leaderboard_note(cards)
        assert "65%" not in note.replace("65.5%", "")  # no unexplained round number about "humans"
        if best.ferplus_test:
            assert f"{best.ferplus_test['fer2013_label_agreement']:.1%}" in note
            assert f"{best.ferplus_test['accuracy']:.1%}" in note


def test_install_concerns_compare_with_the_baseline_and_the_installed_model() -> None:
    installed = evaluated_card("cnn_basic", 0.55)
    good = evaluated_card("cnn_basic", 0.60)
    assert views.install_concerns(good, installed) == []
    worse = evaluated_card("cnn_basic", 0.40)
    (concern,) = views.install_concerns(worse, installed)
    assert "worse than the installed" in concern and "40.0% against 55.0%" in concern
    useless = evaluated_card("cnn_basic", 0.10)
    concerns = views.install_concerns(useless, installed)
    assert len(concerns) == 2 and "below always answering" in concerns[0]
    assert views.install_concerns(useless, None)[0].startswith("This run scores 10.0%, below always answering")


def test_accuracy_curves_use_a_fixed_percent_axis() -> None:
    frame = views.history_frame({"loss": [1.0, 0.8], "accuracy": [0.2, 0.3], "val_accuracy": [0.19, 0.29]})
    fig = figures.curves_figure(frame)
    assert tuple(fig.layout.yaxis2.range) == (0, 1) and fig.layout.yaxis2.tickformat == ".0%"
    assert fig.layout.yaxis.range is None  # the loss keeps its own scale

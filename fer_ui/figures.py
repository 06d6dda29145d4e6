"""Plotly figures for the dashboard: data in, figure out (no Streamlit, so they are tested directly).

Every chart shares one house style (:func:`style`): white background, projector-readable fonts.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.express as px
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from fer_core.constants import EMOTIONS
from fer_core.faces import emotion_colour
from fer_core.live import LiveSnapshot

FONT_SIZE = 16  # projector-readable


def style(fig: go.Figure, height: int = 420, **layout: Any) -> go.Figure:
    """House style for every Plotly chart: white template, large fonts, tight margins."""
    fig.update_layout(
        template="plotly_white",
        font={"size": FONT_SIZE},
        height=height,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        legend={"title": None},
        **layout,
    )
    return fig


def heatmap(
    z: np.ndarray,
    *,
    colorscale: str = "gray",
    zmin: float | None = None,
    zmax: float | None = None,
    showscale: bool = False,
    **trace: Any,
) -> go.Heatmap:
    """A square, top-down 48x48 image heatmap trace."""
    return go.Heatmap(z=z, colorscale=colorscale, zmin=zmin, zmax=zmax, showscale=showscale, **trace)


def image_axes(fig: go.Figure) -> go.Figure:
    """Hide axes, flip y so row 0 is on top, and keep pixels square."""
    fig.update_xaxes(visible=False, constrain="domain")
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x", constrain="domain")
    return fig


def confusion_figure(
    matrix: np.ndarray, *, normalised: bool, colorscale: str = "Blues", zmid: float | None = None
) -> go.Figure:
    """A labelled 7x7 confusion-matrix heatmap (rows = true emotion, columns = predicted)."""
    text = np.vectorize(lambda v: f"{v:.0%}" if normalised else f"{v:.0f}")(matrix)
    fig = go.Figure(
        go.Heatmap(
            z=matrix,
            x=list(EMOTIONS),
            y=list(EMOTIONS),
            text=text,
            texttemplate="%{text}",
            colorscale=colorscale,
            zmid=zmid,
            hovertemplate="true %{y} → predicted %{x}: %{text}<extra></extra>",
            colorbar={"tickformat": ".0%" if normalised else ""},
        )
    )
    fig.update_yaxes(autorange="reversed", title="true emotion")
    fig.update_xaxes(title="predicted emotion", side="bottom")
    return fig


def curves_figure(frame: Any, *, color: str = "split", dash: str | None = None) -> go.Figure:
    """Loss and accuracy side by side from a long (epoch, metric, split, value) table."""
    fig = px.line(
        frame,
        x="epoch",
        y="value",
        color=color,
        line_dash=dash,
        facet_col="metric",
        markers=True,
        category_orders={"metric": ["loss", "accuracy"], "split": ["train", "validation"]},
    )
    fig.update_yaxes(matches=None, showticklabels=True, title=None)
    # Accuracy on a fixed 0-100 % axis, in %, like the numbers beside it: an auto-zoomed axis makes a
    # climb from 19 % to 29 % look like a leap.
    accuracy_axis = 2 if "accuracy" in set(frame["metric"]) and "loss" in set(frame["metric"]) else 1
    if "accuracy" in set(frame["metric"]):
        fig.update_yaxes(range=[0, 1], tickformat=".0%", col=accuracy_axis)
    fig.for_each_annotation(lambda a: a.update(text=a.text.split("=")[-1]))
    fig.update_xaxes(dtick=1 if frame["epoch"].max() <= 12 else None)
    return fig


def probability_chart(probabilities: dict[str, float], height: int = 260) -> go.Figure:
    """Horizontal bars of the seven probabilities, in the app's emotion colours."""
    colours = [f"rgb{emotion_colour(e)}" for e in EMOTIONS]
    values = [probabilities[e] for e in EMOTIONS]
    fig = go.Figure(
        go.Bar(
            x=values,
            y=list(EMOTIONS),
            orientation="h",
            marker_color=colours,
            text=[f"{v:.0%}" for v in values],
            textposition="auto",
        )
    )
    fig.update_xaxes(range=[0, 1], tickformat=".0%")
    fig.update_yaxes(autorange="reversed")
    style(fig, height=height)
    fig.update_layout(margin={"l": 10, "r": 10, "t": 10, "b": 10}, showlegend=False)
    return fig


def timeline_chart(snapshot: LiveSnapshot) -> go.Figure:
    """The largest face's probabilities over the last minute."""
    points = [p for p in snapshot.timeline if p.seconds >= snapshot.timeline[-1].seconds - 60]
    probabilities = np.array([[p.probabilities[e] for e in EMOTIONS] for p in points])
    return probability_timeline([p.seconds for p in points], probabilities)


def probability_timeline(seconds: Any, probabilities: np.ndarray, height: int = 300) -> go.Figure:
    """Each emotion's probability ``(n, 7)`` over time (one line per emotion, in the app's colours)."""
    fig = go.Figure()
    for k, emotion in enumerate(EMOTIONS):
        fig.add_trace(
            go.Scatter(
                x=list(seconds),
                y=probabilities[:, k] if len(probabilities) else [],
                name=emotion,
                mode="lines",
                line={"color": f"rgb{emotion_colour(emotion)}"},
            )
        )
    fig.update_xaxes(title="seconds")
    fig.update_yaxes(range=[0, 1], tickformat=".0%")
    return style(fig, height=height)


def shares_figure(people: list[Any]) -> go.Figure:
    """Each person's share of time per (smoothed) emotion, as stacked horizontal bars."""
    labels = [f"#{person.id}" for person in people]
    fig = go.Figure()
    for emotion in EMOTIONS:
        values = [person.emotion_shares[emotion] for person in people]
        fig.add_trace(
            go.Bar(
                x=values,
                y=labels,
                name=emotion,
                orientation="h",
                marker_color=f"rgb{emotion_colour(emotion)}",
                text=[f"{v:.0%}" if v >= 0.08 else "" for v in values],
                textposition="inside",
            )
        )
    fig.update_layout(barmode="stack", legend={"orientation": "h", "y": -0.45, "x": 0})
    fig.update_xaxes(range=[0, 1], tickformat=".0%", title="share of the frames the person is seen in")
    fig.update_yaxes(autorange="reversed", title="person")
    return style(fig, height=max(230, 130 + 40 * len(people)))


def importance_figure(importance: np.ndarray, mean_face: np.ndarray | None) -> go.Figure:
    """The random forest's pixel importance, alone and over the mean face."""
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("Random-forest pixel importance", "Overlaid on the mean face"),
        horizontal_spacing=0.04,
    )
    fig.add_trace(
        heatmap(importance, colorscale="Hot", showscale=True, zmin=0, zmax=1, colorbar={"x": 0.46, "len": 0.9}), 1, 1
    )
    if mean_face is not None:
        fig.add_trace(heatmap(mean_face, zmin=0, zmax=255), 1, 2)
    fig.add_trace(heatmap(importance, colorscale="Hot", zmin=0, zmax=1, opacity=0.55), 1, 2)
    return image_axes(fig)


def weights_figure(weights: np.ndarray) -> go.Figure:
    """One signed 48x48 weight image per emotion ``(7, 48, 48)``, on a shared red-blue scale."""
    limit = float(np.abs(weights).max())
    fig = make_subplots(rows=1, cols=len(EMOTIONS), subplot_titles=list(EMOTIONS), horizontal_spacing=0.01)
    for i, image in enumerate(weights, start=1):
        fig.add_trace(heatmap(image, colorscale="RdBu", zmin=-limit, zmax=limit, showscale=i == len(EMOTIONS)), 1, i)
    return image_axes(fig)


def faces_figure(faces: dict[str, np.ndarray]) -> go.Figure:
    """Grey 48x48 faces side by side, titled by their keys (e.g. the mean face per emotion)."""
    fig = make_subplots(rows=1, cols=len(faces), subplot_titles=list(faces), horizontal_spacing=0.01)
    for i, face in enumerate(faces.values(), start=1):
        fig.add_trace(heatmap(face, zmin=0, zmax=255, hovertemplate="x %{x}, y %{y}: %{z:.0f}<extra></extra>"), 1, i)
    return image_axes(fig)


def reliability_figure(table: Any) -> go.Figure:
    """Reliability diagrams: accuracy against stated confidence per bin, before and after scaling.

    A perfectly honest model sits on the diagonal; below it, it promises more than it delivers. Bins
    of fewer than 20 test faces are left out: their accuracy is noise.
    """
    enough = table[table["count"] >= 20]
    fig = px.line(
        enough if enough["when"].nunique() == 2 else table,
        x="confidence",
        y="accuracy",
        color="model",
        facet_col="when",
        markers=True,
        hover_data=["count"],
        category_orders={"when": ["before", "after"]},
        facet_col_spacing=0.08,
    )
    for column in (1, 2):
        fig.add_shape(type="line", x0=0, y0=0, x1=1, y1=1, line={"dash": "dot", "color": "grey"}, row=1, col=column)
    fig.for_each_annotation(lambda a: a.update(text=f"{a.text.split('=')[-1]} temperature scaling"))
    fig.update_xaxes(range=[0, 1], tickformat=".0%", title="stated confidence")
    fig.update_yaxes(range=[0, 1], tickformat=".0%", title="actual accuracy")
    return fig


def votes_chart(votes: dict[str, int], height: int = 240) -> go.Figure:
    """The 10 FER+ annotators' votes for one face, one bar per FER+ column."""
    names = list(votes)
    fig = go.Figure(
        go.Bar(
            x=names,
            y=[votes[n] for n in names],
            marker_color="rgb(108, 113, 196)",
            text=[votes[n] or "" for n in names],
        )
    )
    fig.update_yaxes(range=[0, 10], title="votes", dtick=2)
    style(fig, height=height)
    fig.update_layout(margin={"l": 10, "r": 10, "t": 10, "b": 10}, showlegend=False)
    return fig


def titled(fig: go.Figure, title: str, height: int = 380) -> go.Figure:
    """``fig`` styled, with a title at its top left."""
    style(fig, height=height)
    fig.update_layout(title={"text": title, "x": 0.0, "xanchor": "left"}, margin={"t": 50})
    return fig


def models_heatmap(titles: list[str], probabilities: np.ndarray, height: int | None = None) -> go.Figure:
    """Every model's seven probabilities for one face ``(models, 7)``: a row per model."""
    fig = go.Figure(
        go.Heatmap(
            z=probabilities,
            x=list(EMOTIONS),
            y=titles,
            text=[[f"{v:.0%}" for v in row] for row in probabilities],
            texttemplate="%{text}",
            colorscale="Blues",
            zmin=0,
            zmax=1,
            showscale=False,
            hovertemplate="%{y}: %{x} %{text}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed")
    style(fig, height=height or 80 + 38 * len(titles))
    fig.update_layout(margin={"l": 10, "r": 10, "t": 10, "b": 10})
    return fig

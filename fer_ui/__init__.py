"""The dashboard's Streamlit side: every Streamlit helper and cached singleton, in one place.

Where UI code lives (the rule; the README's layout section repeats it):

* ``pages/*.py`` lay out widgets and call functions; they compute nothing themselves.
* :mod:`fer_core.views` computes every number, table and teaching sentence a page shows, as pure
  functions tested without Streamlit.
* :mod:`fer_ui.figures` builds the Plotly figures (pure too: data in, figure out).
* :mod:`fer_ui.ui` holds the Streamlit helpers and every cached singleton (dataset, cards, models,
  the face detector, the EDA summary).
* :mod:`fer_ui.process` is the server process's one-time set-up, which ``streamlit_app.py`` calls
  explicitly before anything else.
"""

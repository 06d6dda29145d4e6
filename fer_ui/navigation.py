"""The app's pages and their URLs, owned by ``st.navigation`` whatever the first request is.

Two Streamlit behaviours would otherwise surprise a user (Streamlit 1.67):

* A ``pages/`` folder beside the entry script turns on Streamlit's older page discovery until the
  entry script first calls ``st.navigation``. A bookmark opened as a server's first request (say
  ``/EDA``) then runs that page file directly, under a sidebar of every file plus an extra
  "streamlit app" entry. :func:`ensure_navigation`, called first on every page, hands such a run
  over to ``st.navigation`` and reruns the same URL through ``streamlit_app.py``.
* The default page is served at ``/`` only, so ``/Home`` would answer "Page not found". Here ``/``
  is a hidden page that forwards to ``/Home``, and Home is an ordinary page with its own URL.
"""

from __future__ import annotations

import streamlit as st
from streamlit.navigation.page import StreamlitPage
from streamlit.runtime.pages_manager import PagesManager

#: (file in pages/, title in the sidebar, URL path), in sidebar order.
PAGES: tuple[tuple[str, str, str], ...] = (
    ("pages/0_Home.py", "Home", "Home"),
    ("pages/1_EDA.py", "EDA", "EDA"),
    ("pages/2_Training.py", "Training", "Training"),
    ("pages/3_Model_comparison.py", "Model comparison", "Model_comparison"),
    ("pages/4_Emotion_detector.py", "Emotion detector", "Emotion_detector"),
    ("pages/5_Quiz.py", "Quiz", "Quiz"),
    ("pages/6_Responsible_use.py", "Responsible use", "Responsible_use"),
)


def app_pages() -> list[StreamlitPage]:
    """Fresh page objects: a hidden root that forwards to Home, then the pages in sidebar order."""
    pages = [st.Page(path, title=title, url_path=url) for path, title, url in PAGES]
    home = pages[0]

    def root() -> None:
        st.switch_page(home)

    return [st.Page(root, title="Home", url_path="start", default=True, visibility="hidden"), *pages]


def ensure_navigation() -> None:
    """Hand a page run by Streamlit's older ``pages/`` discovery over to ``st.navigation`` (see above).

    ``PagesManager.uses_pages_directory`` is Streamlit's own switch for that discovery (not a public
    API: the browser test ``tests/e2e/test_navigation_e2e.py`` checks the behaviour after upgrades).
    """
    if getattr(PagesManager, "uses_pages_directory", False):
        st.navigation(app_pages())  # turns the older discovery off for the whole server
        st.rerun()

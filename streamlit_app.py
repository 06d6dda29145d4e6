"""FER Studio: ``streamlit run streamlit_app.py``.

The entry point prepares the server process once, then routes between the pages in ``pages/``
(see :mod:`fer_ui.navigation`); each page draws itself.
"""

import streamlit as st

from fer_ui.navigation import app_pages
from fer_ui.process import prepare_process

prepare_process()  # before any page can load TensorFlow (see fer_ui.process)
st.navigation(app_pages()).run()

"""FER Studio: ``streamlit run streamlit_app.py``.

The entry point only routes between the pages in ``pages/`` (so the sidebar reads Home, EDA,
Training, Model comparison, Emotion detector); each page draws itself.
"""

import streamlit as st

PAGES = [
    st.Page("pages/0_Home.py", title="Home", url_path="Home", default=True),
    st.Page("pages/1_EDA.py", title="EDA", url_path="EDA"),
    st.Page("pages/2_Training.py", title="Training", url_path="Training"),
    st.Page("pages/3_Model_comparison.py", title="Model comparison", url_path="Model_comparison"),
    st.Page("pages/4_Emotion_detector.py", title="Emotion detector", url_path="Emotion_detector"),
]

st.navigation(PAGES).run()

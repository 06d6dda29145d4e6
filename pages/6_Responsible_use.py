"""Responsible use: what emotion recognition can and cannot tell, and where the law forbids it."""

from __future__ import annotations

import streamlit as st

from fer_core.views import label_noise_note
from fer_ui import ui

AI_ACT_URL = "https://eur-lex.europa.eu/eli/reg/2024/1689/oj"

ui.setup_page("Responsible use", "⚖️")
st.title("Responsible use")
st.markdown(
    "FER Studio is for **learning how facial emotion recognition works** and where it fails. It is never a "
    "tool for judging people — and in schools and workplaces in the EU, using it on students or staff is "
    "against the law."
)

st.header("An expression is not a feeling")
st.markdown(
    "The models see the muscles of a face in one picture. People smile when they are nervous, look neutral "
    "when they are sad, and show feelings differently across cultures and situations. A model that says "
    "*happy* has recognised a pattern that photos labelled *happy* shared — nothing about what the person "
    "feels."
)

st.header("One label per face, and people disagree")
st.markdown(
    "FER2013 gives every face one label, chosen by one person. The FER+ project asked 10 people about each "
    "face, and they often disagreed."
)
note = label_noise_note(ui.get_cards())
if note:
    st.info(note)
st.caption("FER+ votes: Barsoum et al. 2016 (Microsoft), MIT licence.")

st.header("Who is in the data")
st.markdown(
    "FER2013's 35,887 faces were collected from web image searches in 2013. The dataset records nobody's "
    "age, gender or skin tone, so its balance cannot be measured from the data itself; published audits of "
    "facial-expression datasets (for example Dominguez-Catena, Paternain and Galar, *Metrics for dataset "
    "demographic bias*, 2023) report that FER2013 is skewed in apparent age, gender and race, as faces from "
    "web searches tend to be. A model learns from what it sees, so it can be **less accurate for the people "
    "the data under-represents** — children, older people, darker skin tones — and nobody would notice from "
    "the test accuracy alone."
)

st.header("Ask first")
st.markdown(
    "- Only analyse your own face, or the face of someone who agreed to it.\n"
    "- Never photograph or film classmates, teachers or colleagues for this app without asking them.\n"
    "- The app keeps no photos or video (see the privacy note on the detector page); class mode stores only "
    "nicknames and answers."
)

st.header("The law: the EU AI Act")
st.markdown(
    f"""
Since **2 February 2025**, Article 5(1)(f) of the EU Artificial Intelligence Act
([Regulation (EU) 2024/1689]({AI_ACT_URL})) **prohibits** placing on the market, putting into service or
using AI systems **to infer the emotions of a natural person in the areas of workplace and education
institutions**, except where the system is intended for **medical or safety reasons**.

- So FER Studio must **never be used to read the emotions of students in a class, or of staff at work** —
  not for attention, engagement, grading or hiring.
- Outside those settings, emotion recognition systems are **high-risk** AI systems (Annex III, point 1(c)),
  and whoever uses one must **tell the people exposed to it** (Article 50(3)).
- Teaching how the technology works — as this app does, with faces from a public dataset and your own face
  by choice — is not inferring the emotions of students or staff.

This summary is for learning, not legal advice; read the source text linked above.
"""
)

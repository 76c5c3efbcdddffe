"""The guided path on Home: "Start here" in four steps, and questions that lead into the studies.

Each step is a button that opens its page with sensible settings (written to session state
before switching); a step is ticked once the session has done it, which each page records in
session state anyway (what it showed, which run is watched, what was evaluated or classified).
"""

from __future__ import annotations

import streamlit as st

from ui.app import catalog, frame, machine

# (key, title, what you do, page, done-when session key)
STEPS = [
    ("data", "Look at the data", "Browse the 70,000 images class by class.", "pages/dataset.py", "dataset_shown"),
    (
        "train",
        "Train a quick model and watch it",
        "The quick preset (a small CNN) on 6,000 images: {quick_run}, with live curves.",
        "pages/build_train.py",
        "bt_watch_id",
    ),
    (
        "evaluate",
        "Read its confusion matrix",
        "Which classes does it mix up? Click a cell to see the images.",
        "pages/evaluate.py",
        "evaluate_result",
    ),
    (
        "classify",
        "Draw something and see what it thinks",
        "Draw a garment; see the top guesses and where the model looked.",
        "pages/classify.py",
        "classify_result",
    ),
]

QUESTIONS = [
    (
        "Is it better to binarize a 10-class model, or to train a yes/no model?",
        "pages/binary_study.py",
        {"bs_grouping": "footwear_luggage"},
    ),
    ("How few examples does a model need?", "pages/few_shot.py", {}),
    ("Which learning rate should I train with?", "pages/lr_finder.py", {}),
]


def done(step_key: str) -> bool:
    """Whether this session has done the step (the page's own session-state record exists)."""
    session_key = next(s[4] for s in STEPS if s[0] == step_key)
    return st.session_state.get(session_key) is not None


def _settings(step_key: str) -> dict:
    """Session state that opens a step's page in a useful state."""
    if step_key == "data":
        return {"ds_tab": "Browse", "ds_class": "All classes"}
    if step_key == "evaluate":  # the newest model of this session's user, else the shipped 10-class CNN
        own = [m for m in catalog.models_info() if not m.get("shipped")]
        return {"selected_model": own[0]["name"]} if own else {}
    if step_key == "classify":
        return {"cls_input": "Draw"}
    return {}


def start_here() -> None:
    """The four steps as cards in two rows of two (readable from 820 px wide), each ticked once done."""
    st.subheader("Start here")
    cols = [c for _ in range(2) for c in st.columns(2)]
    for i, (col, (key, title, blurb, path, _)) in enumerate(zip(cols, STEPS), start=1):
        with col.container(border=True, height="stretch"):
            tick = done(key)
            st.markdown(f"**{i}. {title}**" + ("  :green[:material/check_circle: done]" if tick else ""))
            st.caption(blurb.format(quick_run=machine.quick_run_text()) if key == "train" else blurb)
            if st.button(
                "Open" if not tick else "Open again",
                key=f"guide_{key}",
                type="secondary" if tick else "primary",
                icon=":material/arrow_forward:",
            ):
                frame.go_to(path, **_settings(key))


def questions() -> None:
    st.subheader("Questions to explore")
    for i, (question, path, state) in enumerate(QUESTIONS):
        if st.button(question, key=f"guide_q{i}", icon=":material/help:", type="tertiary"):
            frame.go_to(path, **state)

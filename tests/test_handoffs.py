"""Pages hand things to each other only through ui.app.handoff's typed records: no page reads or writes a
session-state key of another page (a renamed widget on Build & Train must not silently break the
LR Finder). Checked statically over pages/*.py, and the records themselves."""

import ast
from pathlib import Path

import numpy as np
import pytest

from ui.app import handoff

PAGES = Path(__file__).resolve().parent.parent / "pages"
# Each page's session-state keys start with one of its prefixes (widget keys and the records it keeps).
PREFIXES = {
    "home.py": ("home_", "guide_"),
    "dataset.py": ("ds_", "dataset_"),
    "build_train.py": ("bt_",),
    "lr_finder.py": ("lrf_",),
    "evaluate.py": ("eval_", "evaluate_"),
    "compare_runs.py": ("cr_",),
    "classify.py": ("cls_", "classify_"),
    "binary_study.py": ("bs_", "binary_study_"),
    "few_shot.py": ("fs_", "fewshot_"),
}


def names_used(path: Path):
    """(line, text) of every string constant, f-string head and session-state attribute (``ss.x``,
    ``st.session_state.x``) in a page."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value
        elif isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
            yield node.lineno, str(node.values[0].value)
        elif isinstance(node, ast.Attribute) and (
            isinstance(node.value, ast.Name)
            and node.value.id == "ss"
            or isinstance(node.value, ast.Attribute)
            and node.value.attr == "session_state"
        ):
            yield node.lineno, node.attr


def test_every_page_has_its_key_prefixes():
    assert {p.name for p in PAGES.glob("*.py")} == set(PREFIXES)


@pytest.mark.parametrize("page", sorted(PREFIXES))
def test_a_page_never_touches_another_pages_session_keys(page):
    others = {prefix: owner for owner, prefixes in PREFIXES.items() if owner != page for prefix in prefixes}
    found = [
        f"{page}:{line}: {text!r} belongs to {owner}"
        for line, text in names_used(PAGES / page)
        for prefix, owner in others.items()
        if text.startswith(prefix)
    ]
    assert not found, "hand it over through ui.app.handoff instead:\n" + "\n".join(found)


def test_the_checker_sees_keys_in_every_form(tmp_path):
    page = tmp_path / "p.py"
    page.write_text(
        'ss.bt_layers\nst.session_state.bt_next_id\nss.get("bt_origin")\nss[f"bt_hp_{k}"]\n'
        'for mine, theirs in (("lrf_task", "bt_task"),): pass\nfdata.bt_status()\n'
    )
    assert {t for _, t in names_used(page) if t.startswith("bt_")} == {
        "bt_layers",
        "bt_next_id",
        "bt_origin",
        "bt_hp_",
        "bt_task",
    }


def test_records_check_what_they_carry():
    with pytest.raises(ValueError, match="28x28"):
        handoff.ClassifyImage(image=np.zeros((27, 28), np.uint8))
    with pytest.raises(ValueError, match="0-255"):
        handoff.ClassifyImage(image=np.full((28, 28), 300))
    with pytest.raises(ValueError, match="class index"):
        handoff.ClassifyImage(image=np.zeros((28, 28), np.uint8), true_label=True)
    source = np.arange(784).reshape(28, 28) % 256
    opened = handoff.ClassifyImage(image=source, true_label=np.int64(9), source="Evaluate #1")
    source[0, 0] = 7  # the caller's array changes afterwards: the record does not
    assert opened.image.dtype == np.uint8 and opened.image[0, 0] == 0 and opened.true_label_text == "Ankle boot"
    with pytest.raises(ValueError):
        handoff.LrOffer(lr=0, suggestion="valley", model="quick", optimizer="adam", spec_key="k")
    settings = handoff.BuildSettings(spec=[{"type": "Dense", "units": 8}], origin="custom", batch_size=64)
    assert handoff.BuildSettings.model_validate(settings.model_dump()) == settings


def _handoff_script():
    import streamlit as st

    from ui.app import handoff

    ss = st.session_state
    if "step" not in ss:
        ss.step = 0
        handoff.offer_sweep("sweep-1")
        ss[handoff.LR_OFFER_KEY] = {"lr": "fast", "suggestion": "valley"}  # malformed: reads as None
    ss.step += 1
    ss.taken = handoff.take_sweep()
    ss.offer = handoff.lr_offer()
    ss.built = handoff.build_settings()


def test_a_sweep_offer_is_taken_once_and_a_malformed_record_reads_as_none():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_handoff_script, default_timeout=60)
    at.run()
    assert not at.exception
    assert (at.session_state["taken"], at.session_state["offer"], at.session_state["built"]) == ("sweep-1", None, None)
    at.run()
    assert at.session_state["taken"] is None  # then Compare runs keeps the user's own choice

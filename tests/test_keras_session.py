"""Streamlit clears the Keras session after every script run unless ui.app.frame stops it: a full
gc.collect() per canvas stroke on Classify (~0.2 s of a 0.3 s budget)."""

from pathlib import Path

import keras
from streamlit.testing.v1 import AppTest


def test_a_script_run_leaves_the_keras_session_alone():
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "streamlit_app.py"), default_timeout=60)
    at.run()
    assert not at.exception
    # Keras's name counters live in its session: clear_session() restarts them at 1.
    before = keras.backend.get_uid("fmnist_probe")
    at.run()
    assert not at.exception
    assert keras.backend.get_uid("fmnist_probe") == before + 1

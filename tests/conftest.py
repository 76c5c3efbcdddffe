"""Shared fixtures. Tests use the real Fashion-MNIST (installed by `make data`)."""

import sys

import pytest


def pytest_runtest_setup(item):
    """streamlit_app.py keeps Streamlit from clearing the Keras session after each script run
    (ui/app/streamlit_compat.py); AppTests that run a page on its own get the same here (only once
    Streamlit is loaded: tests of the core never import it)."""
    if "streamlit" in sys.modules:
        from ui.app import streamlit_compat

        streamlit_compat.keep_keras_session()


@pytest.fixture
def fmnist_home(tmp_path, monkeypatch):
    """An empty $FMNIST_HOME: user models and the run store go here, shipped models stay visible."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("FMNIST_HOME", str(home))
    monkeypatch.setenv("FMNIST_PREWARM_S", "0")  # no idle pre-warmed worker per test (tests opt in)
    return home

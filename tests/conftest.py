"""Shared fixtures. Tests use the real Fashion-MNIST (installed by `make data`)."""
import pytest


@pytest.fixture
def fmnist_home(tmp_path, monkeypatch):
    """An empty $FMNIST_HOME: user models and the run store go here, shipped models stay visible."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("FMNIST_HOME", str(home))
    monkeypatch.setenv("FMNIST_PREWARM_S", "0")   # no idle pre-warmed worker per test (tests opt in)
    return home

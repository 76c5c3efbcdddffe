"""Every FMNIST_* variable is read through ``fmnist_core.schema.settings``: a good value is parsed,
a bad one is one line naming the variable, what it accepts and what it got; the modules that use a
setting see a change to the environment at once."""

import pytest

from fmnist_core.schema.settings import SettingsError, settings

# variable: ([(good text, parsed value)], [bad texts])
TABLE = {
    "FMNIST_PREWARM_S": (
        [("0", 0.0), ("300", 300.0), ("86400", 86400.0), ("2.5", 2.5)],
        ["abc", "-1", "86401", "nan", "inf", "1e400"],
    ),
    "FMNIST_LEASE_TIMEOUT_S": ([("3", 3.0), ("60", 60.0)], ["2", "abc", "nan", "inf", "-5", "86401"]),
    "FMNIST_MAX_WORKERS": ([("1", 1), ("16", 16)], ["0", "17", "99", "abc", "1.5", " 1", "²", "-1"]),
    "FMNIST_EXECUTOR": ([("local", "local"), ("ray", "ray"), ("RAY ", "ray")], ["bogus", "local; rm"]),
    "FMNIST_RAY_CPUS": ([("1", 1.0), ("0.5", 0.5), ("64", 64.0)], ["0", "65", "abc", "nan"]),
    "FMNIST_STORE_URL": (
        [
            ("postgresql://u@h/db", "postgresql://u@h/db"),
            ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ],
        ["not a url", "sqlite:///tmp/x.db", "runs.sqlite"],
    ),
    "FMNIST_SERVED": ([("1", True), ("0", False), ("true", True)], ["abc", "2"]),
    "FMNIST_HOME": ([("/tmp/h", "/tmp/h")], []),
    "FMNIST_DATA_DIR": ([("/tmp/d", "/tmp/d")], []),
    "FMNIST_AUTH_FILE": ([("/tmp/a.yaml", "/tmp/a.yaml")], []),
    "FMNIST_FAULT_AT": ([("staged", "staged")], []),
}
ALLOWED = {
    "FMNIST_PREWARM_S": "a number of seconds in 0-86400",
    "FMNIST_LEASE_TIMEOUT_S": "a number of seconds in 3-86400",
    "FMNIST_MAX_WORKERS": "an integer in 1-16",
    "FMNIST_EXECUTOR": "one of 'local', 'ray'",
    "FMNIST_RAY_CPUS": "a number of CPUs in (0, 64]",
    "FMNIST_STORE_URL": "a postgresql:// URL",
    "FMNIST_SERVED": "true or false",
}


def _attr(var: str) -> str:
    return var.removeprefix("FMNIST_").lower()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for var in TABLE:
        monkeypatch.delenv(var, raising=False)


@pytest.mark.parametrize("var,text,value", [(v, t, x) for v, (good, _) in TABLE.items() for t, x in good])
def test_a_good_value_is_parsed(monkeypatch, var, text, value):
    monkeypatch.setenv(var, text)
    got = getattr(settings(), _attr(var))
    assert (str(got) if var in ("FMNIST_HOME", "FMNIST_DATA_DIR", "FMNIST_AUTH_FILE") else got) == value


@pytest.mark.parametrize("var,text", [(v, t) for v, (_, bad) in TABLE.items() for t in bad])
def test_a_bad_value_is_one_line_naming_the_variable_and_the_allowed_values(monkeypatch, var, text):
    monkeypatch.setenv(var, text)
    with pytest.raises(SettingsError) as err:
        settings()
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"{var} must be {ALLOWED[var]}") and msg.endswith(f"got {text!r}"), msg


def test_the_example_of_the_issue(monkeypatch):
    monkeypatch.setenv("FMNIST_PREWARM_S", "abc")  # it used to become 300 without a word
    with pytest.raises(SettingsError, match=r"^FMNIST_PREWARM_S must be a number of seconds in 0-86400, got 'abc'$"):
        settings()


def test_unset_and_empty_mean_the_default(monkeypatch):
    defaults = settings()
    assert (
        defaults.prewarm_s,
        defaults.lease_timeout_s,
        defaults.max_workers,
        defaults.executor,
        defaults.ray_cpus,
        defaults.store_url,
        defaults.served,
        defaults.home,
    ) == (300, 60, 1, "local", 1, None, False, None)
    for var in TABLE:
        monkeypatch.setenv(var, "")
    assert settings() == defaults


def test_the_modules_that_use_a_setting_see_a_change_at_once(monkeypatch, tmp_path):
    from fmnist_core.data.fashion_mnist import candidate_dirs
    from fmnist_core.modeling.saving import home_dir
    from fmnist_core.runs.accounts import auth_file
    from fmnist_core.runs.executors import prewarm_seconds
    from fmnist_core.runs.leases import lease_timeout
    from fmnist_core.runs.slots import max_workers
    from fmnist_core.runs.store import default_location

    for var, value in {
        "FMNIST_HOME": tmp_path / "h",
        "FMNIST_DATA_DIR": tmp_path / "d",
        "FMNIST_AUTH_FILE": tmp_path / "a.yaml",
        "FMNIST_PREWARM_S": 7,
        "FMNIST_LEASE_TIMEOUT_S": 9,
        "FMNIST_MAX_WORKERS": 3,
        "FMNIST_STORE_URL": "postgresql://u@h/db",
    }.items():
        monkeypatch.setenv(var, str(value))
    assert home_dir() == tmp_path / "h" and candidate_dirs()[0] == tmp_path / "d"
    assert auth_file() == tmp_path / "a.yaml" and default_location() == "postgresql://u@h/db"
    assert (prewarm_seconds(), lease_timeout(), max_workers()) == (7, 9, 3)
    monkeypatch.setenv("FMNIST_MAX_WORKERS", "abc")
    with pytest.raises(SettingsError, match="^FMNIST_MAX_WORKERS"):
        max_workers()


def test_the_cli_says_error_and_exits_2_on_a_bad_variable(monkeypatch, tmp_path, capsys):
    from fmnist_core import cli

    monkeypatch.setenv("FMNIST_HOME", str(tmp_path))
    monkeypatch.setenv("FMNIST_PREWARM_S", "abc")
    assert cli.main(["runs"]) == 2
    err = capsys.readouterr().err
    assert err == "error: FMNIST_PREWARM_S must be a number of seconds in 0-86400, got 'abc'\n"


def test_the_app_shows_one_line_and_nothing_else(monkeypatch, tmp_path):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("FMNIST_HOME", str(tmp_path))
    monkeypatch.setenv("FMNIST_MAX_WORKERS", "many")
    at = AppTest.from_file("../streamlit_app.py", default_timeout=60).run()
    assert not at.exception
    shown = "FMNIST_MAX_WORKERS must be an integer in 1-16, got 'many'; fix it and restart the app."
    assert [e.value for e in at.error] == [shown]

"""``python -m fmnist_core app``: its checked options, the Streamlit command it runs (make app's flags, on
127.0.0.1 unless told otherwise), the data check, and ``make app`` calling it. Its real start in a browser:
tests/browser/test_browser_app_command.py."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fmnist_core.cli import app as app_cli
from fmnist_core.cli import build_parser, main
from fmnist_core.data import find_dataset

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_are_this_machine_only_on_8501():
    args = build_parser().parse_args(["app"])
    assert (args.host, args.port) == ("127.0.0.1", 8501)


def test_the_server_gets_the_address_the_sign_in_gate_reads():
    # ui.app.identity.served() reads server.address: anything but loopback turns the sign-in on.
    assert app_cli.streamlit_command("0.0.0.0", 8600) == [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(ROOT / "streamlit_app.py"),
        "--server.address",
        "0.0.0.0",
        "--server.port",
        "8600",
        "--browser.gatherUsageStats",
        "false",
    ]


@pytest.mark.parametrize(
    "argv, said",
    [
        (["--port", "0"], "port must be in 1-65535"),
        (["--port", "http"], "port must be an integer"),
        (["--host", ""], "host must be an address"),
        (["--host", "a b"], "host must be an address"),
    ],
)
def test_bad_options_get_one_line_and_exit_2(argv, said, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["app", *argv])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and said in err and err.count("\n") == 1


def test_the_data_check_names_the_folder_it_found():
    folder, _ = find_dataset()
    if folder is None:
        pytest.skip("Fashion-MNIST is not installed here: run `make data`")
    assert app_cli.ensure_dataset() == str(folder)


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_app_runs_the_same_command():
    plan = subprocess.run(
        ["make", "-n", "app", "HOST=10.1.2.3", "PORT=8123"], cwd=ROOT, capture_output=True, text=True, timeout=60
    ).stdout
    assert ".venv/bin/python -m fmnist_core app --host 10.1.2.3 --port 8123" in plan.splitlines()

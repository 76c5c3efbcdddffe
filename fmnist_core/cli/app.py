"""``python -m fmnist_core app``: what ``make app`` does, on any OS with Python (``make app`` calls it).

Finds Fashion-MNIST (else Keras downloads it: ``make data``'s logic less its apt step), then runs the
Streamlit app from this checkout, on 127.0.0.1 unless ``--host`` says otherwise. Serving on any other
address turns on the app's sign-in, which refuses to open without an accounts file (``ui.app.identity``,
README "Serving a class"): the server address is all this command has to pass on.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from fmnist_core.cli.common import int_in

ROOT = Path(__file__).resolve().parents[2]
ENTRY = ROOT / "streamlit_app.py"
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8501


def _host(text: str) -> str:
    if not text or any(c.isspace() for c in text):
        raise argparse.ArgumentTypeError(f"host must be an address such as 127.0.0.1 or 0.0.0.0, got {text!r}")
    return text


def register(sub) -> None:
    a = sub.add_parser(
        "app",
        help="check (or download) the data, then start the app at http://localhost:8501",
        description="Check Fashion-MNIST (downloading it with Keras when it is nowhere here), then "
        "start the Streamlit app. By default only this machine can connect; "
        "--host 0.0.0.0 serves a class, and every visitor then signs in (create the "
        "accounts first with `add-user`, see README 'Serving a class').",
    )
    a.add_argument(
        "--host",
        type=_host,
        default=DEFAULT_HOST,
        help=f"address to listen on (default {DEFAULT_HOST}: this machine only)",
    )
    a.add_argument(
        "--port",
        type=int_in(1, 65535, "port"),
        default=DEFAULT_PORT,
        help=f"port to listen on (default {DEFAULT_PORT})",
    )
    a.set_defaults(func=cmd_app)


def streamlit_command(host: str, port: int) -> list[str]:
    """The server's command line: the same flags as the Makefile's app target used to pass."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(ENTRY),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--browser.gatherUsageStats",
        "false",
    ]


def ensure_dataset() -> str:
    """Where Fashion-MNIST is; downloaded by Keras first when no complete copy is found (one line on failure,
    through the CLI's DatasetNotFoundError handling)."""
    from fmnist_core.data import find_dataset, load_fashion_mnist

    folder, _ = find_dataset()
    if folder is None:
        print("Fashion-MNIST not found here: downloading it with Keras (about 30 MB)...", flush=True)
        load_fashion_mnist()  # searches again, then downloads, and checks the four files
        folder, _ = find_dataset()
    return str(folder)


def cmd_app(args) -> int:
    if not ENTRY.is_file():
        raise ValueError(f"{ENTRY} is missing: run this command from a checkout of Fashion-MNIST Lab")
    print(f"Fashion-MNIST: {ensure_dataset()}", flush=True)
    shown = "localhost" if args.host in ("127.0.0.1", "localhost") else args.host
    print(f"Starting the app at http://{shown}:{args.port} (Ctrl+C stops it)", flush=True)
    # The repository root as working directory: Streamlit reads .streamlit/config.toml from there.
    return subprocess.call(streamlit_command(args.host, args.port), cwd=ROOT)

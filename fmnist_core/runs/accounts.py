"""Accounts for a served app: a YAML file of bcrypt-hashed passwords, in streamlit-authenticator's format.

    python -m fmnist_core add-user ann          # asks for the password twice
    echo "$PW" | python -m fmnist_core add-user ann --password-stdin

The file (default ``.streamlit/auth.yaml``, or ``$FMNIST_AUTH_FILE``) holds no clear-text
password: only bcrypt hashes, and the random key that signs the sign-in cookie. It is
created readable by its owner only (0600) and is git-ignored.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

USER_RE = re.compile(r"[a-z0-9_.-]{1,32}")
MIN_PASSWORD = 8


def auth_file() -> Path:
    from fmnist_core.modeling.saving import REPO_ROOT
    from fmnist_core.schema.settings import settings

    return Path(settings().auth_file or REPO_ROOT / ".streamlit" / "auth.yaml")


def read_accounts(path=None) -> dict:
    import yaml

    path = Path(path) if path else auth_file()
    if not path.is_file():
        return {
            "cookie": {"name": "fmnist_lab_auth", "key": secrets.token_hex(32), "expiry_days": 7.0},
            "credentials": {"usernames": {}},
        }
    cfg = yaml.safe_load(path.read_text()) or {}
    if (
        not isinstance(cfg, dict)
        or not isinstance(cfg.get("credentials", {}).get("usernames"), dict)
        or not isinstance(cfg.get("cookie"), dict)
    ):
        raise ValueError(
            f"{path} is not an accounts file (credentials/usernames and cookie); move it aside and add the users again"
        )
    return cfg


def add_user(username: str, password: str, name: str | None = None, path=None) -> Path:
    """Add (or reset the password of) ``username``; returns the accounts file."""
    import bcrypt
    import yaml

    if not isinstance(username, str) or not USER_RE.fullmatch(username):
        raise ValueError(f"invalid user name {username!r}: use 1-32 lower-case letters, digits, '.', '-' or '_'")
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"the password must have at least {MIN_PASSWORD} characters")
    path = Path(path) if path else auth_file()
    cfg = read_accounts(path)
    cfg["credentials"]["usernames"][username] = {
        "name": name or username,
        "email": f"{username}@localhost",
        "password": bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        yaml.safe_dump(cfg, fh, sort_keys=False)
    os.replace(tmp, path)
    return path

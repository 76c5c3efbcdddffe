"""Who is using the app, and the sign-in gate when it is served to a network.

* Local (the default, ``make app``: the server listens on 127.0.0.1 only): the person at this
  machine, ``local:<login>``, the same owner as runs started from the CLI.
* Served (``make app HOST=0.0.0.0``, or any ``server.address`` other than loopback): every
  visitor signs in with streamlit-authenticator against the accounts file (bcrypt hashes;
  ``python -m fmnist_core add-user NAME`` creates it, see README "Serving a class"); the owner
  is ``user:<name>``. Without an accounts file a served app refuses to open rather than run
  without sign-in.

A run belongs to its owner: only they can stop, rename or delete it (``RunStore`` checks);
everyone can view every run. ``FMNIST_SERVED=1`` forces served mode (tests).
"""

from __future__ import annotations

import streamlit as st

from fmnist_core.runs.accounts import auth_file
from fmnist_core.runs.jobs import local_owner
from fmnist_core.schema.settings import settings
from ui.app.text import plain

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def served() -> bool:
    """True when other machines can reach this server (an empty address means every interface)."""
    if settings().served:
        return True
    return (st.get_option("server.address") or "") not in LOOPBACK


def _authenticator(path: str):
    """Made on every run: its cookie manager is a widget, which a cached function may not create."""
    import streamlit_authenticator as stauth

    from fmnist_core.runs.accounts import read_accounts

    cfg = read_accounts(path)
    return stauth.Authenticate(path, cfg["cookie"]["name"], cfg["cookie"]["key"], cfg["cookie"]["expiry_days"])


def gate() -> None:
    """Served: show the sign-in form and stop the page until the visitor has signed in. Local: nothing."""
    if not served():
        return
    path = auth_file()
    if not path.is_file():
        st.error(
            "This lab is served to the network, so every visitor signs in, but it has no accounts yet. "
            "On the server, run `python -m fmnist_core add-user NAME` (see README, Serving a class), "
            "then reload this page.",
            icon=":material/lock:",
        )
        st.stop()
    authenticator = _authenticator(str(path))
    try:
        authenticator.login(
            location="main",
            fields={
                "Form name": "Sign in to Fashion-MNIST Lab",
                "Username": "User name",
                "Password": "Password",
                "Login": "Sign in",
            },
            max_login_attempts=10,
        )
    except Exception as exc:  # e.g. too many attempts: one line, never a traceback
        st.error(f"Sign-in failed: {plain(exc)}")
        st.stop()
    status = st.session_state.get("authentication_status")
    if status is False:
        st.error("Wrong user name or password.")
    if not status:
        st.caption("Ask your teacher for an account.")
        st.stop()
    with st.sidebar:
        st.caption(f"Signed in as {plain(st.session_state.get('name') or st.session_state.get('username'))}")
        authenticator.logout("Sign out", "sidebar")


def current_owner() -> str:
    """The identity that owns the runs this session starts."""
    if served():
        user = st.session_state.get("username") if st.session_state.get("authentication_status") else None
        if user:
            return f"user:{user}"
        return "session:anonymous"  # unreachable behind the gate; never matches a real owner
    return local_owner()


def can_change(row: dict) -> bool:
    """May this session stop, rename or delete ``row`` (a run or sweep)? Rows made before owners existed: yes."""
    return row.get("owner") in (None, current_owner())

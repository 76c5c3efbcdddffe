"""Every ``FMNIST_*`` environment variable, read and checked here and nowhere else.

``settings()`` reads the environment on each call (so a test's ``monkeypatch.setenv`` is seen at
once; the parse is cached per set of values). An empty variable counts as unset. A bad value raises
``SettingsError``, one line naming the variable and what it accepts, e.g. "FMNIST_PREWARM_S must be
a number of seconds in 0-86400, got 'abc'"; the CLI prints it as ``error: ...`` with exit code 2,
the app shows it and serves nothing else.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from fmnist_core.schema.messages import one_line

PREFIX = "FMNIST_"


class SettingsError(ValueError):
    """A bad ``FMNIST_*`` variable; the message names it and what it accepts."""


def _digits(raw):
    """Whole numbers only as written by a person: "1.5", " 1", "²" or "1e1" are refused."""
    if isinstance(raw, str) and not re.fullmatch(r"[0-9]{1,6}", raw):
        raise ValueError
    return raw


def _word(raw):
    return raw.strip().lower() if isinstance(raw, str) else raw


def _store_url(raw):
    if isinstance(raw, str) and not re.match(r"postgresql(\+\w+)?://", raw):
        raise ValueError
    return raw


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=PREFIX, env_ignore_empty=True, extra="ignore", allow_inf_nan=False)

    # The folder for the user's models and the run store; default: the repository's saved_models/.
    home: Path | None = None
    # Where the four Fashion-MNIST IDX .gz files are looked for first.
    data_dir: Path | None = None
    # The served app's accounts; default: .streamlit/auth.yaml.
    auth_file: Path | None = None
    # A PostgreSQL run store every node reaches (a cluster); default: runs.sqlite in the home.
    store_url: Annotated[str | None, BeforeValidator(_store_url)] = Field(
        None, json_schema_extra={"allowed": "a postgresql:// URL (or unset, for runs.sqlite)"}
    )
    # Where queued runs train: worker processes here, or a Ray cluster (needs FMNIST_STORE_URL).
    executor: Annotated[Literal["local", "ray"], BeforeValidator(_word)] = "local"
    # How many local workers train at once (the machine has 2 cores; Keras already uses both).
    max_workers: Annotated[int, BeforeValidator(_digits)] = Field(1, ge=1, le=16)
    # How long a warm worker waits for the next run; 0 = never warm.
    prewarm_s: float = Field(300.0, ge=0, le=86400, json_schema_extra={"unit": "seconds"})
    # A worker heartbeats every 2 s, so a shorter lease would be taken from healthy workers.
    lease_timeout_s: float = Field(60.0, ge=3, le=86400, json_schema_extra={"unit": "seconds"})
    # The longest any store call waits: a SQLite store another process holds locked, a PostgreSQL
    # server's connect, and each of its statements. Then one line says what to do.
    db_timeout_s: float = Field(30.0, gt=0, le=3600, json_schema_extra={"unit": "seconds"})
    # CPUs each Ray training task reserves.
    ray_cpus: float = Field(1.0, gt=0, le=64, json_schema_extra={"unit": "CPUs"})
    # Forces served mode (sign-in, per-user runs), as if the app were reachable from the network.
    served: bool = False
    # Set only by `make models`: lets it rebuild the shipped models, which are read-only otherwise.
    ship: bool = False
    # Fault injection for the tests: SIGKILL the process at this step of a save (saving.FAULT_STEPS).
    fault_at: str | None = None


def env_name(field: str) -> str:
    return PREFIX + field.upper()


@functools.lru_cache(maxsize=32)
def _parse(items: tuple) -> Settings:
    try:
        return Settings(_env_file=None)
    except ValidationError as exc:
        raise SettingsError(one_line(exc, Settings.model_fields, label=env_name)) from None


def settings() -> Settings:
    """The current settings (SettingsError if one is bad)."""
    items = tuple(sorted((k, v) for k, v in os.environ.items() if k.upper().startswith(PREFIX)))
    return _parse(items)

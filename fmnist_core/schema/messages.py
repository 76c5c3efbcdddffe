"""One line per bad value, derived from the schema itself: "lr (learning rate) must be a number in
(0, 10], got -1". The bounds and choices are read from the field's own constraints, so a message
can never disagree with the check that produced it."""

from __future__ import annotations

import types
import typing
from typing import Literal

import annotated_types as at
from pydantic import ValidationError
from pydantic.fields import FieldInfo


def _plain(annotation):
    """The annotation without ``| None``, and whether None is allowed."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return (args[0] if len(args) == 1 else annotation), len(args) < len(typing.get_args(annotation))
    return annotation, False


def choices(info: FieldInfo) -> tuple:
    """The allowed values of a Literal field; () for any other."""
    kind = _plain(info.annotation)[0]
    return typing.get_args(kind) if typing.get_origin(kind) is Literal else ()


def _bounds(info: FieldInfo):
    lo = hi = None
    lo_open = hi_open = False
    for m in info.metadata:
        if isinstance(m, (at.Ge, at.Gt)):
            lo, lo_open = (m.ge, False) if isinstance(m, at.Ge) else (m.gt, True)
        elif isinstance(m, (at.Le, at.Lt)):
            hi, hi_open = (m.le, False) if isinstance(m, at.Le) else (m.lt, True)
    return lo, lo_open, hi, hi_open


def allowed(info: FieldInfo) -> str:
    """What a field accepts, in words: "an integer in 0-4294967295", "one of 'adam', 'sgd'"..."""
    kind, optional = _plain(info.annotation)
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    if extra.get("allowed"):
        text = extra["allowed"]
    elif typing.get_origin(kind) is Literal:
        text = "one of " + ", ".join(repr(c) for c in choices(info))
    elif kind is bool:
        text = "true or false"
    elif kind in (int, float):
        unit = f" of {extra['unit']}" if extra.get("unit") else ""
        text = ("an integer" if kind is int else "a number") + unit
        lo, lo_open, hi, hi_open = _bounds(info)
        if lo is not None and hi is not None:
            if lo_open or hi_open:
                text += f" in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
            else:
                text += f" in {lo:g}-{hi:g}" if kind is float else f" in {lo}-{hi}"
        elif lo is not None:
            text += f" {'>' if lo_open else '>='} {lo:g}"
    else:
        text = f"a {getattr(kind, '__name__', kind)}"
    return text + (" (or unset)" if optional and extra.get("unset") else "")


def field_errors(
    exc: ValidationError, fields: dict[str, FieldInfo], label=None, unknown: str = "field", field: str | None = None
) -> dict[str, str]:
    """{field name ("" for the whole object): one line} for every error in ``exc``.

    fields : the model's ``model_fields``. label(name) -> how a field is named in the line
    (default: the name, with its title in brackets). unknown : what an unexpected key is called.
    field : the name for errors without a location (a single field validated on its own).
    """
    label = label or (lambda n: f"{n} ({fields[n].title})" if fields[n].title else n)
    out: dict[str, str] = {}
    extras = []
    for err in exc.errors():
        loc = [p for p in err["loc"] if isinstance(p, str)]
        name = loc[0] if loc else field
        if err["type"] == "extra_forbidden":
            extras.append(str(name))
            continue
        said = err["msg"].removeprefix("Value error, ") if err["type"] == "value_error" else ""
        if name not in fields:
            out.setdefault("", said or err["msg"])
        elif said:  # a rule with its own words (a model name)
            out.setdefault(name, f"{label(name)}: {said}")
        else:
            out.setdefault(name, f"{label(name)} must be {allowed(fields[name])}, got {err['input']!r}")
    if extras:
        out["*"] = f"unknown {unknown}(s): {', '.join(sorted(extras))}"
    return out


def one_line(exc: ValidationError, fields: dict[str, FieldInfo], **kwargs) -> str:
    """``field_errors`` joined into the single line every caller shows."""
    return "; ".join(field_errors(exc, fields, **kwargs).values())

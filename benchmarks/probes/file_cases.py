"""Probes over model files: metadata of the wrong shape, per field. ``model_case`` and the
rewriting helpers are shared with keras_cases.py and serve_cases.py."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

from benchmarks.probes.harness import (
    Case,
    Outcome,
    describe,
    fresh_home,
    lost,
    one_line_error,
    run_cli,
    short,
    snapshot,
)

# ---------------------------------------------------------------- metadata of the wrong shape, per field

MISSING = object()
META_BAD = {
    "name": [MISSING, None, 5, "", "../x", "other", "x" * 65, ["m"]],
    "task": [MISSING, None, "multiclass", {}, {"name": 5}, {"name": "foo"}, {"name": "multiclass"}],
    "spec": ["linear", [1], [{}], None],
    "hparams": [MISSING, None, [], "x"],
    "n_params": [MISSING, None, -1, 1.5, "10", True],
    "val_metrics": [[], "x", {"accuracy": "high"}, {"loss": "x"}],
    "test_metrics": [[], "x", {"accuracy": "high"}],
    "history": [{}, "x", [1]],
    "run_id": ["1", 1.5],
    "owner": [5, []],
    "seed": ["42", 4.2],
    "payload_sha256": [MISSING, "abc", "0" * 64, None],
}
META_FINE = {"owner": None, "run_id": None, "val_metrics": {"accuracy": None}, "extra_field": {"any": 1}}


def _rewrite(src: Path, dst: Path, meta=MISSING, raw: bytes | None = None, keep_sha=False, drop=(), add=None):
    """Copy a model file, replacing its metadata (payload hash recomputed unless keep_sha) and entries."""
    from fmnist_core.modeling import saving

    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if info.filename != saving.META_ENTRY and info.filename not in drop:
                zout.writestr(info, (add or {}).pop(info.filename, None) or zin.read(info.filename))
        for name, data in (add or {}).items():
            zout.writestr(name, data)
    if raw is None and meta is MISSING:
        return
    with zipfile.ZipFile(dst) as zf:
        digest = saving._payload_sha256(zf)
    if isinstance(meta, dict) and not keep_sha and "payload_sha256" in meta:
        meta = {**meta, "payload_sha256": digest}
    with zipfile.ZipFile(dst, "a") as zf:
        zf.writestr(saving.META_ENTRY, raw if raw is not None else json.dumps(meta))


def _kept_meta(home: Path) -> dict:
    from fmnist_core.modeling import saving

    with zipfile.ZipFile(home / "kept.keras") as zf:
        return json.loads(zf.read(saving.META_ENTRY))


def model_case(cid, group, what, damage, expect="damaged") -> Case:
    """``damage(home)`` writes ``m.keras`` (and maybe more); then the listing, the loader and the CLI look at it.

    expect: "damaged" (listed as ``damaged: ...`` or not listed, never loaded), "at-load" (the file's
    hash and metadata check out, so the listing, which does not build the Keras model, shows it;
    loading it is refused as damaged), or "loads"."""
    expect_damaged = expect != "loads"

    def run() -> Outcome:
        from fmnist_core.modeling import saving

        home = fresh_home()
        damage(home)
        before = snapshot(home)
        os.environ["FMNIST_HOME"] = str(home)
        try:
            listed = {m["name"]: m for m in saving.list_models()}
            entry = listed.get("m")
            try:
                saving.load_model("m")
                loaded = "loads"
            except saving.DamagedModelError as exc:
                loaded = f"load refused ({short(exc.reason, 70)})"
            except saving.ModelNotFoundError:
                loaded = "not found"
        finally:
            os.environ.pop("FMNIST_HOME", None)
        test = run_cli(["test", "-mn", "m"], home) if expect_damaged else None
        models = run_cli(["models"], home)
        gone = lost(before, snapshot(home))
        listing = "not listed" if entry is None else entry.get("error") or "listed healthy"
        if expect_damaged:
            listed_ok = listing.startswith("damaged:") or listing == "not listed" or expect == "at-load"
            ok = (
                listed_ok
                and loaded.startswith(("load refused", "not found"))
                and one_line_error(test)
                and models.code == 0
                and models.tb is None
            )
        else:
            ok = listing == "listed healthy" and loaded == "loads" and models.code == 0
        text = (
            f"listed: {short(listing, 80)}; {loaded}"
            + (f"; test: {describe(test)[:70]}" if test else "")
            + f"; models exit {models.code}"
        )
        tb = bool((test and test.tb) or models.tb)
        return Outcome(text, ok and not gone, traceback=tb, data_lost=bool(gone))

    exp = {
        "damaged": "listed as `damaged: ...` (or not listed), never loaded; `test` one line; `models` exit 0",
        "at-load": "loading refused as `damaged: ...` (the listing does not build the model); `test` one line",
        "loads": "listed and loads",
    }[expect]
    return Case(cid, group, what, exp, "`python -m fmnist_core models; python -m fmnist_core test -mn m`", run)


def _meta_damage(field, value):
    def damage(home):
        meta = {**_kept_meta(home), "name": "m", "model_file": "m.keras"}
        if value is MISSING:
            meta.pop(field, None)
        else:
            meta[field] = value
        _rewrite(home / "kept.keras", home / "m.keras", meta, keep_sha=field == "payload_sha256")

    return damage


def _whole_doc(raw: bytes):
    def damage(home):
        _rewrite(home / "kept.keras", home / "m.keras", raw=raw)

    return damage


def _legacy(doc_bytes: bytes | None):
    def damage(home):
        _rewrite(home / "kept.keras", home / "m.keras")  # no metadata inside: the old two-file format
        if doc_bytes is not None:
            (home / "m.json").write_bytes(doc_bytes)

    return damage


def metadata_cases() -> list[Case]:
    g, out = "Model metadata of the wrong shape", []
    for field, values in META_BAD.items():
        for v in values:
            label = "missing" if v is MISSING else json.dumps(v)[:40]
            semantic = field == "task" and isinstance(v, dict) and isinstance(v.get("name"), str)
            out.append(
                model_case(
                    f"meta.{field}={label}",
                    g,
                    f"metadata field `{field}` = {label}",
                    _meta_damage(field, v),
                    expect="at-load" if semantic else "damaged",
                )
            )
    for field, v in META_FINE.items():
        out.append(
            model_case(
                f"meta.{field}={json.dumps(v)}.ok",
                g,
                f"metadata field `{field}` = {json.dumps(v)} (allowed)",
                _meta_damage(field, v),
                expect="loads",
            )
        )
    for label, raw in {
        "[]": b"[]",
        "null": b"null",
        '"text"': b'"text"',
        "5": b"5",
        "{}": b"{}",
        "not JSON": b"{",
        "not UTF-8": b"\xff\xfe\x00",
        "nested 100000 deep": b"[" * 100000 + b"]" * 100000,
        "NaN accuracy": b'{"val_metrics": {"accuracy": NaN}}',
    }.items():
        out.append(model_case(f"meta.doc={label}", g, f"the whole metadata is {label}", _whole_doc(raw)))
    for label, raw in {
        "[]": b"[]",
        "null": b"null",
        "{}": b"{}",
        '"text"': b'"text"',
        '{"name": 5}': b'{"name": 5}',
        "string accuracy": b'{"name": "m", "val_metrics": {"accuracy": "high"}}',
        "truncated": b'{"name": "m", "ta',
        "not UTF-8": b"\xff\xfe",
        "absent": None,
    }.items():
        out.append(model_case(f"meta.legacy={label}", g, f"old two-file format, sidecar {label}", _legacy(raw)))
    return out


def cases() -> list[Case]:
    return metadata_cases()

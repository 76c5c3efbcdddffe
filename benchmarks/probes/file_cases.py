"""Probes over files: metadata of the wrong shape per field, damaged ``.keras`` files, damaged run
stores under every command."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import zipfile
from contextlib import closing
from pathlib import Path

import numpy as np

from benchmarks.probes.harness import (
    Case,
    Outcome,
    cli_command,
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


# ---------------------------------------------------------------- damaged .keras files


def _bytes_of(fn):
    def damage(home):
        (home / "m.keras").write_bytes(fn((home / "kept.keras").read_bytes()))

    return damage


def _flip(at: float):
    def fn(b: bytes) -> bytes:
        b = bytearray(b)
        i = min(len(b) - 1, int(len(b) * at)) if at >= 0 else len(b) + int(at)
        b[i] ^= 0x55
        return bytes(b)

    return fn


def keras_cases() -> list[Case]:
    g, out = "Damaged model files", []
    for p in (0, 1, 10, 50, 90, 99):
        out.append(
            model_case(
                f"keras.truncated-{p}pct",
                g,
                f"`.keras` truncated to {p}% of its bytes",
                _bytes_of(lambda b, p=p: b[: len(b) * p // 100]),
            )
        )
    out.append(
        model_case(
            "keras.garbage", g, "`.keras` of random bytes", _bytes_of(lambda b: np.random.default_rng(1).bytes(len(b)))
        )
    )
    for at in (0.0, 0.05, 0.3, 0.5, 0.8, -60, -10):
        out.append(
            model_case(
                f"keras.flip@{at}",
                g,
                f"one byte flipped at {'offset ' + str(at) if at < 0 else f'{at:.0%}'}",
                _bytes_of(_flip(at)),
            )
        )

    def entries(drop=(), add=None, meta_fix=True):
        def damage(home):
            meta = {**_kept_meta(home), "name": "m", "model_file": "m.keras"}
            _rewrite(home / "kept.keras", home / "m.keras", meta if meta_fix else MISSING, drop=drop, add=add)

        return damage

    for entry in ("config.json", "model.weights.h5", "metadata.json"):
        out.append(
            model_case(
                f"keras.without-{entry}",
                g,
                f"`{entry}` removed (hash recomputed to match)",
                entries(drop=(entry,)),
                expect="loads" if entry == "metadata.json" else "at-load",
            )
        )
    out.append(
        model_case(
            "keras.extra-entry-stale-hash",
            g,
            "an extra entry added, hash not updated",
            lambda home: _rewrite(
                home / "kept.keras",
                home / "m.keras",
                {**_kept_meta(home), "name": "m"},
                keep_sha=True,
                add={"evil.py": b"import os"},
            ),
        )
    )
    out.append(
        model_case(
            "keras.config-not-json",
            g,
            "`config.json` is not JSON (hash recomputed)",
            entries(add={"config.json": b"{nope"}),
            expect="at-load",
        )
    )
    lam = json.dumps(
        {
            "module": "keras.layers",
            "class_name": "Lambda",
            "config": {
                "name": "l",
                "function": {"class_name": "__lambda__", "config": {"code": "YQ==", "defaults": None, "closure": None}},
            },
        }
    ).encode()
    out.append(
        model_case(
            "keras.lambda-layer",
            g,
            "config replaced by a Lambda layer (code), hash recomputed",
            entries(add={"config.json": lam}),
            expect="at-load",
        )
    )

    def other_arch(home):
        from fmnist_core.modeling import saving

        shipped = saving.find_model("shoes_cnn")
        with zipfile.ZipFile(shipped) as zf:
            weights = zf.read("model.weights.h5")
        entries(add={"model.weights.h5": weights})(home)

    out.append(
        model_case(
            "keras.weights-of-another-architecture",
            g,
            "weights of another architecture inside (hash recomputed)",
            other_arch,
            expect="at-load",
        )
    )
    out.append(
        model_case(
            "keras.another-models-file",
            g,
            "another model's complete file under this name",
            lambda home: shutil.copy(home / "kept.keras", home / "m.keras"),
        )
    )
    out.append(model_case("keras.directory", g, "a directory named `m.keras`", lambda home: (home / "m.keras").mkdir()))
    out.append(
        model_case(
            "keras.fifo", g, "a FIFO named `m.keras` (a read would block)", lambda home: os.mkfifo(home / "m.keras")
        )
    )
    out.append(
        model_case(
            "keras.dangling-symlink",
            g,
            "a dangling symlink `m.keras`",
            lambda home: os.symlink("/nonexistent/x.keras", home / "m.keras"),
        )
    )
    out.append(
        model_case(
            "keras.symlink-outside",
            g,
            "a symlink `m.keras` to a model file outside the home",
            lambda home: os.symlink(home / "kept.keras", home / "m.keras"),
        )
    )

    def zip_bomb(home):
        meta = {**_kept_meta(home), "name": "m"}
        with (
            zipfile.ZipFile(home / "kept.keras") as zin,
            zipfile.ZipFile(home / "m.keras", "w", zipfile.ZIP_DEFLATED) as zout,
        ):
            for info in zin.infolist():
                zout.writestr(info.filename, zin.read(info.filename))
            with zout.open("pad.bin", "w") as fh:
                for _ in range(256):
                    fh.write(bytes(4 * 2**20))
            zout.writestr("fmnist/metadata.json", json.dumps(meta))

    out.append(
        model_case("keras.zip-bomb-1GiB-entry", g, "a 1 GiB zero-filled entry (4 MB compressed), stale hash", zip_bomb)
    )
    return out


# ---------------------------------------------------------------- damaged run stores, under every command


def _store_damage(kind: str):
    def damage(home: Path):
        p = home / "runs.sqlite"
        good = p.read_bytes()
        for side in ("runs.sqlite-wal", "runs.sqlite-shm"):
            (home / side).unlink(missing_ok=True)
        if kind == "garbage":
            p.write_bytes(np.random.default_rng(2).bytes(len(good)))
        elif kind == "truncated":
            p.write_bytes(good[: len(good) // 3])
        elif kind == "zero-bytes":
            p.write_bytes(b"")
        elif kind == "header-only":
            p.write_bytes(good[:100])
        elif kind == "header+garbage":
            p.write_bytes(good[:100] + b"\xee" * (len(good) - 100))
        elif kind in ("newer-schema", "no-runs-table"):
            with closing(sqlite3.connect(p, isolation_level=None)) as conn:  # closed: its WAL is checkpointed
                conn.execute("PRAGMA user_version = 99" if kind == "newer-schema" else "DROP TABLE runs")
        elif kind == "directory":
            p.unlink()
            p.mkdir()
        elif kind == "garbage-wal":
            (home / "runs.sqlite-wal").write_bytes(b"\x37\x7f\x06\x82" + b"\xee" * 4096)

    return damage


STORE_KINDS = [
    "garbage",
    "truncated",
    "zero-bytes",
    "header-only",
    "header+garbage",
    "newer-schema",
    "no-runs-table",
    "directory",
    "garbage-wal",
]
STORE_COMMANDS = {
    "runs": ["runs"],
    "train": ["train", "--preset", "linear", "--detach", "-mn", "x"],
    "stop": ["stop", "1"],
    "delete": ["delete", "run", "1"],
    "rename": ["rename", "run", "1", "x"],
    "models": ["models"],
    "store-reset": ["store-reset"],
    "store-reset--yes": ["store-reset", "--yes"],
}


def store_case(kind: str, cmd: str) -> Case:
    argv = STORE_COMMANDS[cmd]
    healthy = kind == "garbage-wal"  # SQLite ignores a WAL whose header does not check out

    def run() -> Outcome:
        home = fresh_home()
        _store_damage(kind)(home)
        store = home / "runs.sqlite"
        raw = store.read_bytes() if store.is_file() else None
        before = snapshot(home)
        res = run_cli(argv, home)
        after = snapshot(home)
        text = describe(res)
        if healthy:  # delete and rename are meant to change run 1
            ok = res.tb is None and res.code in (0, 1, 2) and (cmd in ("delete", "rename") or not lost(before, after))
        elif cmd == "models":
            ok = res.code == 0 and res.tb is None and after == before
        elif kind in ("newer-schema", "directory") and cmd.startswith("store-reset"):
            ok = one_line_error(res) and after == before  # never moved aside: update the app / not a file
        elif cmd == "store-reset--yes":
            asides = sorted(home.glob("runs.sqlite.damaged-*"))
            kept = bool(asides) and (raw is None or (asides[0].is_file() and asides[0].read_bytes() == raw))
            fresh = store.is_file() and store.stat().st_size > 0
            ok = res.code == 0 and res.tb is None and kept and fresh
            text += f"; damaged file kept aside {'byte for byte' if kept else 'NOT KEPT'}, fresh store {'made' if fresh else 'MISSING'}"
        elif cmd == "store-reset":
            ok = res.code == 1 and res.tb is None and after == before and "--yes" in res.err
        else:
            ok = one_line_error(res) and after == before
        if (cmd != "store-reset--yes" or kind in ("newer-schema", "directory")) and not healthy:
            text += "; store untouched" if after == before else "; STORE CHANGED"
        # run 1 gone after `delete run 1` (or renamed) on a healthy store is what was asked, not a loss
        gone = [] if cmd == "store-reset--yes" or (healthy and cmd in ("delete", "rename")) else lost(before, after)
        return Outcome(text, ok, traceback=res.tb is not None, data_lost=bool(gone))

    exp = (
        "no traceback, run 1 kept"
        if healthy
        else "exit 1, one line, store untouched"
        if kind in ("newer-schema", "directory") and cmd.startswith("store-reset")
        else "exit 0, models listed"
        if cmd == "models"
        else "exit 0, damaged file kept aside byte for byte, fresh store"
        if cmd == "store-reset--yes"
        else "exit 1, asks for --yes, nothing changed"
        if cmd == "store-reset"
        else "exit 1, one line, store untouched"
    )
    return Case(
        f"store.{kind}.{cmd}",
        "Damaged run stores",
        f"`runs.sqlite` {kind}; `{' '.join(argv)}`",
        exp,
        cli_command(argv),
        run,
    )


def cases() -> list[Case]:
    return metadata_cases() + keras_cases() + [store_case(k, c) for k in STORE_KINDS for c in STORE_COMMANDS]

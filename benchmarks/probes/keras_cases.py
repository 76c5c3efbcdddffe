"""Probes over damaged ``.keras`` files: truncated, flipped, unreadable, not files at all."""

from __future__ import annotations

import json
import os
import shutil
import zipfile

import numpy as np

from benchmarks.probes.file_cases import MISSING, _kept_meta, _rewrite, model_case
from benchmarks.probes.harness import (
    Case,
)

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


def cases() -> list[Case]:
    return keras_cases()

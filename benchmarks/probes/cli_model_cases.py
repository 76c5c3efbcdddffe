"""CLI probes of the model and study commands: test, lr-find, export, compare-binary, fewshot.
The rules a refused or accepted value must meet are in cli_cases.py."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.probes.cli_cases import BIG, accept, reject
from benchmarks.probes.harness import (
    Case,
    Outcome,
    describe,
    fresh_home,
    lost,
    one_line_error,
    run_cli,
    snapshot,
)


def model_command_cases() -> list[Case]:
    g, out = "CLI: test, lr-find, export", []
    for v, what in (
        ("nope", "a missing model"),
        ("../etc/passwd", "a path"),
        ("damaged", "a damaged model"),
        ("", "an empty name"),
        ("x\n", "a name with a newline"),
    ):
        out.append(reject(f"cli.test-mn={v!r}", g, ["test", "-mn", v], f"test {what}"))
    out += [
        reject("cli.test--split=train", g, ["test", "-mn", "kept", "--split", "train"], "test --split train"),
        reject("cli.test--task=foo", g, ["test", "-mn", "kept", "--task", "foo"], "test --task foo"),
        reject(
            "cli.test--task=multiclass@binary",
            g,
            ["test", "-mn", "kept", "--task", "multiclass"],
            "test a binary model on the 10-class task",
        ),
    ]
    out.append(
        accept(
            "cli.test.ok",
            g,
            ["test", "-mn", "kept", "--json"],
            "test a healthy binary model",
            lambda h, r: (json.loads(r.out)["n"] == 10000, "n=10000"),
            "exit 0, n=10000",
        )
    )
    lf = ["lr-find", "--preset", "linear"]
    for flag, vals in {
        "--start-lr": ["0", "-1", "nan", "inf", "11"],
        "--end-lr": ["0", "inf", "nan", "101"],
        "--num-batches": ["4", "10001", "abc"],
        "--subset": ["99", "60001"],
        "--batch-size": ["0"],
        "--seed": ["-1"],
        "--optimizer": ["bogus"],
        "--task": ["foo"],
    }.items():
        for v in vals:
            out.append(reject(f"cli.lr-find{flag}={v}", g, lf + [f"{flag}={v}"], f"lr-find {flag} {v!r}"))
    out.append(
        reject(
            "cli.lr-find.start>end",
            g,
            lf + ["--start-lr", "1", "--end-lr", "0.1"],
            "lr-find with start LR above end LR",
        )
    )
    out.append(
        reject(
            "cli.lr-find.start=end",
            g,
            lf + ["--start-lr", "0.1", "--end-lr", "0.1"],
            "lr-find with start LR equal to end LR",
        )
    )
    out.append(
        accept(
            "cli.lr-find.ok",
            g,
            lf + ["--subset", "1000", "--num-batches", "60", "--json"],
            "lr-find on a small subset",
            lambda h, r: (len(json.loads(r.out)["lrs"]) >= 1, "suggestions printed"),
            "exit 0",
        )
    )
    for v, what in (("nope", "a missing model"), ("../x", "a path"), ("damaged", "a damaged model")):
        out.append(
            reject(
                f"cli.export-mn={v}",
                g,
                ["export", "-mn", v, "--format", "keras", "-o", "/tmp/fmnist_probe_export"],
                f"export {what}",
            )
        )
    out.append(
        reject("cli.export--format=onnx", g, ["export", "-mn", "kept", "--format", "onnx"], "export --format onnx")
    )
    out.append(
        reject(
            "cli.export-o=/proc",
            g,
            ["export", "-mn", "kept", "--format", "keras", "-o", "/proc/x.keras"],
            "export into /proc (not writable)",
        )
    )

    def exported(home, res):
        from fmnist_core.modeling import saving

        path = Path(json.loads(res.out)["path"])
        return saving.read_metadata(path)["name"] == "kept", "the exported file verifies"

    out.append(
        Case(
            "cli.export.exists",
            g,
            "export onto an existing file without --overwrite",
            "exit 1/2, one line, the file untouched",
            "`python -m fmnist_core export -mn kept --format keras -o $FMNIST_HOME/kept.keras`",
            _export_onto_existing,
        )
    )
    return out


def _export_onto_existing() -> Outcome:
    home = fresh_home()
    before = snapshot(home)
    res = run_cli(["export", "-mn", "kept", "--format", "keras", "-o", str(home / "kept.keras")], home)
    gone = lost(before, snapshot(home))
    return Outcome(describe(res), one_line_error(res) and not gone, res.tb is not None, bool(gone))


def study_cases() -> list[Case]:
    g, out = "CLI: compare-binary, fewshot", []
    cb = ["compare-binary"]
    for flag, vals in {
        "--seeds": ["0", "21", str(BIG), "abc"],
        "--epochs": ["0", "501"],
        "--subset": ["0", "60001"],
        "--task": ["foo", "multiclass", "custom_0123456789"],
        "--multiclass": ["nope", "../x", "kept"],
        "--binary": ["nope", "damaged"],
        "--transfer": ["../x"],
    }.items():
        for v in vals:
            out.append(reject(f"cli.compare-binary{flag}={v}", g, cb + [f"{flag}={v}"], f"compare-binary {flag} {v!r}"))
    fs = ["fewshot", "--quiet"]
    for args, what in [
        (["--task", "bogus"], "an unknown task"),
        (["--task", "shoe-types", "--shots", "0"], "0 shots"),
        (["--task", "shoe-types", "--shots", "-3"], "negative shots"),
        (["--task", "shoe-types", "--shots", str(BIG)], "2^70 shots"),
        (["--task", "shoe-types", "--shots", "abc"], "shots 'abc'"),
        (["--task", "flats-heels", "--seeds", "0"], "0 seeds"),
        (["--task", "flats-heels", "--seeds", "101"], "101 seeds"),
        (["--task", "flats-heels", "--curve", "--draws", "0"], "0 draws"),
        (["--task", "flats-heels", "--curve", "--draws", "-1"], "negative draws"),
        (["--task", "flats-heels", "--curve", "--ks", "0"], "k = 0"),
        (["--task", "flats-heels", "--curve", "--ks", ""], "empty k list"),
        (["--task", "flats-heels", "--curve", "--ks", "1,,2"], "k list with a gap"),
        (["--task", "flats-heels", "--curve", "--methods", "nope"], "unknown method in --methods"),
        (["--task", "flats-heels", "--method", "nope"], "unknown --method"),
        (["--task", "flats-heels", "--backbone", "nope"], "a missing backbone"),
        (["--task", "flats-heels", "--backbone", "../x"], "a backbone path"),
        (["--task", "flats-heels", "--backbone", "damaged"], "a damaged backbone"),
        ([], "no task and no folders"),
        (["--train-dir", "/nonexistent"], "--train-dir without --test-dir"),
        (["--train-dir", "/nonexistent", "--test-dir", "/nonexistent"], "missing folders"),
        (["--task", "flats-heels", "--train-dir", "/tmp", "--test-dir", "/tmp"], "a task and folders"),
        (["--train-dir", "/proc/self/fd", "--test-dir", "/proc/self/fd"], "folders with no images"),
    ]:
        out.append(reject(f"cli.fewshot:{what}", g, fs + args, f"fewshot with {what}", timeout=180))
    return out


def cases() -> list[Case]:
    return model_command_cases() + study_cases()

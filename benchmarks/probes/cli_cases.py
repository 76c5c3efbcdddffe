"""Every CLI parameter's boundary values, generated per parameter type, and the environment.

A refused value must give exit code 1 or 2, exactly one line on stderr starting "error:", no
traceback, and leave the home exactly as it was (nothing queued). An accepted boundary value
must exit 0 and reach the store unchanged (the harness's executor records the queued run and
starts no worker, so nothing trains).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from benchmarks.probes.harness import (
    REPO,
    Case,
    Outcome,
    cli_command,
    describe,
    fresh_home,
    lost,
    one_line_error,
    run_cli,
    run_rows,
    short,
    snapshot,
)

TRAIN = ["train", "--preset", "linear", "--detach", "-mn", "x"]
BIG = 2**70


def bad_ints(lo: int, hi: int) -> list[str]:
    return [str(lo - 1), str(hi + 1), str(2**64), str(BIG), "abc", "1.5", "1e3", "", "0x10", "nan"]


def bad_floats(lo: float, hi: float, lo_open: bool) -> list[str]:
    vals = [repr(lo - 1), repr(hi * 1.01 + 1e-9), "nan", "inf", "-inf", "1e309", "abc", "", "1,5"]
    return ([repr(lo)] if lo_open else []) + vals


def reject(cid, group, argv, what, env=None, stdin="", home_fn=fresh_home, timeout=120) -> Case:
    """A value that must be refused in one line, before anything is queued."""

    def run() -> Outcome:
        home = home_fn()
        before = snapshot(home)
        res = run_cli(argv, home, env=env, stdin=stdin, timeout=timeout)
        after = snapshot(home)
        gone, intact = lost(before, after), after == before
        ok = one_line_error(res) and intact
        changed = gone or sorted(set(after.items()) - set(before.items()))[:2]
        return Outcome(
            describe(res) + ("" if intact else f"; home changed: {short(changed, 80)}"),
            ok,
            traceback=res.tb is not None,
            data_lost=bool(gone),
        )

    return Case(cid, group, what, "exit 1/2, one line, home intact", cli_command(argv, env), run)


def accept(cid, group, argv, what, check=None, expected="exit 0", env=None, stdin="", timeout=180) -> Case:
    """A boundary value that must be accepted; ``check(home, result) -> (ok, text)`` looks at the effect."""

    def run() -> Outcome:
        home = fresh_home()
        before = snapshot(home)
        res = run_cli(argv, home, env=env, stdin=stdin, timeout=timeout)
        ok, text = (res.code == 0 and res.tb is None), describe(res)
        if ok and check:
            ok, extra = check(home, res)
            text += f"; {extra}"
        gone = [k for k in lost(before, snapshot(home)) if k.split(":")[0] not in getattr(check, "may_change", ())]
        return Outcome(
            text + (f"; lost {gone}" if gone else ""),
            ok and not gone,
            traceback=res.tb is not None,
            data_lost=bool(gone),
        )

    return Case(cid, group, what, expected, cli_command(argv, env), run)


def queued_with(key, value):
    """Check: run 2 is queued and its stored hyperparameter ``key`` equals ``value``."""

    def check(home: Path, res):
        from fmnist_core.runs.store import RunStore

        store = RunStore(home / "runs.sqlite")
        try:
            run = store.get_run(2)
        finally:
            store.close()
        got = None if run is None else (run["hparams"] or {}).get(key) if key else run["status"]
        want = value if key else "queued"
        good = run is not None and run["status"] == "queued" and got == want
        return good, f"run 2 {run and run['status']} with {key or 'status'}={got!r}"

    return check


def train_cases() -> list[Case]:
    g, out = "CLI: train", []
    ints = {
        "--epochs": (1, 500, "epochs"),
        "--batch-size": (1, 8192, "batch_size"),
        "--seed": (0, 2**32 - 1, "seed"),
        "--early-stopping": (0, 500, "early_stopping"),
    }
    floats = {
        "--lr": (0.0, 10.0, True, "lr"),
        "--augment-shift": (0.0, 0.3, False, "augment_shift"),
        "--augment-erase": (0.0, 1.0, False, "augment_erase"),
        "--label-smoothing": (0.0, 0.49, False, "label_smoothing"),
    }
    for flag, (lo, hi, key) in ints.items():
        for v in bad_ints(lo, hi):
            out.append(reject(f"cli.train{flag}={v!r}", g, TRAIN + [f"{flag}={v}"], f"train {flag} {v!r}"))
        for v in (lo, hi):
            out.append(
                accept(
                    f"cli.train{flag}={v}.ok",
                    g,
                    TRAIN + [f"{flag}={v}"],
                    f"train {flag} {v} (bound)",
                    queued_with(key, v),
                    f"queued with {key}={v}",
                )
            )
    for flag, (lo, hi, lo_open, key) in floats.items():
        for v in bad_floats(lo, hi, lo_open):
            out.append(reject(f"cli.train{flag}={v!r}", g, TRAIN + [f"{flag}={v}"], f"train {flag} {v!r}"))
        for v in ([1e-300] if lo_open else [lo]) + [hi]:
            out.append(
                accept(
                    f"cli.train{flag}={v}.ok",
                    g,
                    TRAIN + [f"{flag}={v!r}"],
                    f"train {flag} {v!r} (bound)",
                    queued_with(key, v),
                    f"queued with {key}={v!r}",
                )
            )
    # --subset: the parser's range, then the split's own minimum (90 too small, 91 the least)
    for v in ["0", "90", "60001", str(BIG), "-5", "abc", ""]:
        out.append(reject(f"cli.train--subset={v!r}", g, TRAIN + [f"--subset={v}"], f"train --subset {v!r}"))
    for v in (91, 60000):
        out.append(
            accept(
                f"cli.train--subset={v}.ok",
                g,
                TRAIN + [f"--subset={v}"],
                f"train --subset {v} (bound)",
                queued_with("subset", v),
                f"queued with subset={v}",
            )
        )
    for flag, good in {
        "--preset": "linear",
        "--optimizer": "adam",
        "--schedule": "constant",
        "--precision": "float32",
    }.items():
        for v in ("bogus", "", good.upper(), good + " "):
            argv = (
                [a for a in TRAIN] + [f"{flag}={v}"]
                if flag != "--preset"
                else ["train", f"--preset={v}", "--detach", "-mn", "x"]
            )
            out.append(reject(f"cli.train{flag}={v!r}", g, argv, f"train {flag} {v!r}"))
    for v in ("", "x\n", "../x", "a/b", "x" * 65, "évil", "a b", ".", "..", "x\x00y", "x;rm", "*", "\u200bx"):
        out.append(
            reject(f"cli.train-mn={v!r}", g, ["train", "--preset", "linear", "--detach", "-mn", v], f"train -mn {v!r}")
        )
    for v in ("x" * 64, "A-b_9"):
        out.append(
            accept(
                f"cli.train-mn={v}.ok",
                g,
                ["train", "--preset", "linear", "--detach", "-mn", v],
                f"train -mn {v!r} (valid)",
                queued_with(None, None),
                "queued",
            )
        )
    out.append(
        reject(
            "cli.train-mn=kept",
            g,
            ["train", "--preset", "linear", "--detach", "-mn", "kept"],
            "train an existing model's name without --overwrite",
        )
    )
    out.append(
        accept(
            "cli.train-mn=kept--overwrite.ok",
            g,
            ["train", "--preset", "linear", "--detach", "-mn", "kept", "--overwrite"],
            "train an existing name with --overwrite",
            queued_with(None, None),
            "queued; old model kept until the new one is saved",
        )
    )
    out.append(
        reject(
            "cli.train-mn=shoes_cnn",
            g,
            ["train", "--preset", "linear", "--detach", "-mn", "shoes_cnn"],
            "train over a shipped model's name",
        )
    )
    for v, preset in (
        ("ghost", "linear"),
        ("damaged", "tinyvgg"),
        ("shoes_cnn", "tinyvgg"),
        ("../x", "linear"),
        ("a b", "linear"),
    ):
        out.append(
            reject(
                f"cli.train--init-from={v}@{preset}",
                g,
                ["train", "--preset", preset, "--detach", "-mn", "x", f"--init-from={v}"],
                f"train --preset {preset} --init-from {v!r}",
            )
        )
    out.append(
        accept(
            "cli.train--init-from=shoes_cnn@shoe_cnn.ok",
            g,
            ["train", "--preset", "shoe_cnn", "--task", "shoes", "--detach", "-mn", "x", "--init-from", "shoes_cnn"],
            "train --init-from a model of the same architecture",
            queued_with("init_from", "shoes_cnn"),
            "queued with init_from",
        )
    )
    for v in (
        "foo",
        "",
        "custom_",
        "custom_0123456789",
        "custom_a",
        "MULTICLASS",
        "custom_" + "2" * 9 + "x",
        "custom_-1",
        "custom_²",
        "custom_٣",
    ):
        out.append(reject(f"cli.train--task={v!r}", g, TRAIN + [f"--task={v}"], f"train --task {v!r}"))
    for v in ("custom_1", "custom_11", "custom_012345678", "footwear_luggage"):  # repeated digits fold
        out.append(
            accept(
                f"cli.train--task={v}.ok",
                g,
                TRAIN + [f"--task={v}"],
                f"train --task {v} (valid)",
                queued_with(None, None),
                "queued",
            )
        )
    out += [
        reject("cli.train.no-args", g, ["train"], "train with no arguments"),
        reject("cli.train--bogus", g, TRAIN + ["--bogus"], "train with an unknown flag"),
        reject("cli.train--epochs-missing-value", g, TRAIN + ["--epochs"], "train --epochs without its value"),
    ]
    return out


def train_here_cases() -> list[Case]:
    """train-here shares the parser; one bad value per parameter, plus its own checks before training."""
    g, base = "CLI: train-here", ["train-here", "--preset", "linear", "-mn", "x"]
    out = [
        reject(f"cli.train-here{flag}={v!r}", g, base + [f"{flag}={v}"], f"train-here {flag} {v!r}")
        for flag, v in [
            ("--epochs", "0"),
            ("--batch-size", "8193"),
            ("--seed", str(2**32)),
            ("--lr", "inf"),
            ("--subset", "90"),
            ("--augment-shift", "0.31"),
            ("--label-smoothing", "0.5"),
            ("--early-stopping", "-1"),
            ("--task", "foo"),
            ("--optimizer", "bogus"),
            ("--init-from", "ghost"),
            ("--precision", "fp8"),
        ]
    ]
    out.append(
        reject(
            "cli.train-here-mn=kept",
            g,
            ["train-here", "--preset", "linear", "-mn", "kept"],
            "train-here an existing name without --overwrite",
        )
    )
    out.append(
        reject(
            "cli.train-here.diverges",
            g,
            [
                "train-here",
                "--preset",
                "mlp",
                "-mn",
                "nanny",
                "--lr",
                "10",
                "--optimizer",
                "sgd",
                "--no-normalize",
                "--subset",
                "500",
                "--epochs",
                "2",
                "--seed",
                "0",
            ],
            "train-here whose loss becomes NaN (lr 10, raw pixels): trains for real",
            timeout=300,
        )
    )
    return out


def command_cases() -> list[Case]:
    out = []
    g = "CLI: runs, stop, rename, delete"
    for v in ("foo", "", "custom_x"):
        out.append(reject(f"cli.runs--task={v!r}", g, ["runs", f"--task={v}"], f"runs --task {v!r}"))
    for v in ("done", "", "QUEUED"):
        out.append(reject(f"cli.runs--status={v!r}", g, ["runs", f"--status={v}"], f"runs --status {v!r}"))

    def lists_run1(home, res):
        return "done" in res.out, "run 1 listed" if "done" in res.out else "run 1 missing"

    out.append(
        accept(
            "cli.runs--sweep=sql.ok",
            g,
            ["runs", "--sweep", "'; DROP TABLE runs;--"],
            "runs --sweep with SQL in it",
            lambda h, r: (
                run_rows(h / "runs.sqlite") is not None and len(run_rows(h / "runs.sqlite")) == 1,
                "runs table intact",
            ),
            "exit 0, nothing matched, runs intact",
        )
    )
    out.append(accept("cli.runs.ok", g, ["runs"], "runs", lists_run1, "exit 0, run 1 listed"))
    out.append(
        accept(
            "cli.runs--json.ok",
            g,
            ["runs", "--json"],
            "runs --json",
            lambda h, r: (json.loads(r.out)[0]["id"] == 1, "one JSON list"),
            "exit 0, JSON",
        )
    )
    for v in bad_ints(1, 2**63 - 1) + ["424242"]:
        out.append(
            reject(f"cli.stop={v!r}", g, ["stop", v] if not v.startswith("-") else ["stop", "--", v], f"stop {v!r}")
        )
    out.append(reject("cli.stop=1.completed", g, ["stop", "1"], "stop a run that already completed"))
    for v in ("0", str(BIG), "abc", "424242"):
        out.append(reject(f"cli.rename.run={v!r}", g, ["rename", "run", v, "new"], f"rename run {v!r}"))
        out.append(reject(f"cli.delete.run={v!r}", g, ["delete", "run", v], f"delete run {v!r}"))
    for v in ("", "two\nlines", "x" * 101, "tab\tx", "\x00", "\u2028"):
        out.append(reject(f"cli.rename.run.name={v!r}", g, ["rename", "run", "1", v], f"rename run 1 to {v!r}"))
    for v, what in (
        ("nope", "a missing model"),
        ("../x", "a path"),
        ("shoes_cnn", "a shipped model"),
        ("damaged", "a damaged model"),
    ):
        out.append(reject(f"cli.rename.model={v}", g, ["rename", "model", v, "fresh"], f"rename {what} ({v!r})"))
    for v in ("bad name", "kept", "shoes_cnn", "", "../y"):
        out.append(
            reject(f"cli.rename.model.to={v!r}", g, ["rename", "model", "kept", v], f"rename model kept to {v!r}")
        )
    out += [
        reject("cli.rename.sweep=nope", g, ["rename", "sweep", "nope", "x"], "rename a missing sweep"),
        reject("cli.rename.kind=bogus", g, ["rename", "bogus", "1", "x"], "rename an unknown kind"),
        reject("cli.delete.kind=bogus", g, ["delete", "bogus", "1"], "delete an unknown kind"),
        reject("cli.delete.sweep=nope", g, ["delete", "sweep", "nope"], "delete a missing sweep"),
    ]
    for v, what in (
        ("shoes_cnn", "a shipped model"),
        ("../x", "a path"),
        ("nope", "a missing model"),
        ("", "an empty name"),
    ):
        out.append(reject(f"cli.delete.model={v!r}", g, ["delete", "model", v], f"delete {what}"))

    def renamed(home, res):
        from fmnist_core.modeling import saving

        meta = saving.read_metadata(home / "kept2.keras")
        return (meta["name"] == "kept2" and not (home / "kept.keras").exists()), "kept2 verified, kept gone"

    renamed.may_change = ("kept.keras", "runs.sqlite")  # run 1 now names the model kept2
    out.append(
        accept(
            "cli.rename.model.ok",
            g,
            ["rename", "model", "kept", "kept2"],
            "rename model kept kept2",
            renamed,
            "exit 0, the renamed file verifies",
        )
    )

    def kept_stays(home, res):
        return (home / "kept.keras").exists() and run_rows(home / "runs.sqlite") == [], "run gone, kept.keras stays"

    kept_stays.may_change = ("runs.sqlite",)
    out.append(
        accept(
            "cli.delete.run--keep-model.ok",
            g,
            ["delete", "run", "1", "--keep-model"],
            "delete run 1 --keep-model",
            kept_stays,
            "exit 0, run deleted, model kept",
        )
    )

    def damaged_gone(home, res):
        return not (home / "damaged.keras").exists(), "damaged.keras removed"

    damaged_gone.may_change = ("damaged.keras",)
    out.append(
        accept(
            "cli.delete.model=damaged.ok",
            g,
            ["delete", "model", "damaged"],
            "delete a damaged model",
            damaged_gone,
            "exit 0, removed",
        )
    )

    g = "CLI: add-user, store-reset, global"
    for v in ("Bad Name", "", "a" * 33, "x\n", "../x", "ann:x"):
        out.append(
            reject(
                f"cli.add-user={v!r}",
                g,
                ["add-user", v, "--password-stdin"],
                f"add-user {v!r}",
                stdin="correct horse battery\n",
            )
        )
    for pw in ("short", ""):
        out.append(
            reject(
                f"cli.add-user.password={pw!r}",
                g,
                ["add-user", "ann", "--password-stdin"],
                f"add-user with password {pw!r}",
                stdin=pw + "\n",
            )
        )

    def has_account(home, res):
        text = (home / "auth.yaml").read_text()
        return "ann" in text and "correct horse" not in text, "auth.yaml holds ann, no plain password"

    out.append(
        accept(
            "cli.add-user.ok",
            g,
            ["add-user", "ann", "--password-stdin"],
            "add-user ann",
            has_account,
            "exit 0, bcrypt hash saved",
            stdin="correct horse battery\n",
        )
    )
    out.append(
        accept(
            "cli.store-reset.healthy.ok",
            g,
            ["store-reset", "--yes"],
            "store-reset on a healthy store",
            lambda h, r: ("healthy" in r.out, "said healthy"),
            "exit 0, nothing changed",
        )
    )
    out += [
        reject("cli.nonsense", g, ["nonsense"], "an unknown command"),
        reject("cli.no-command", g, [], "no command"),
        reject("cli.--bogus", g, ["--bogus"], "an unknown global flag"),
        reject("cli.models--bogus", g, ["models", "--bogus"], "models with an unknown flag"),
    ]
    out.append(
        accept(
            "cli.models.ok",
            g,
            ["models"],
            "models over a home with a damaged file",
            lambda h, r: ("damaged:" in r.out, "damaged file listed as 'damaged:'"),
            "exit 0",
        )
    )
    return out


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


# ---------------------------------------------------------------- the environment (a separate process each:
# some variables are read when a module is imported)

ENV_VALUES = {
    "FMNIST_MAX_WORKERS": ["0", "abc", "99", "²", "-1", " 1", "1.5"],
    "FMNIST_LEASE_TIMEOUT_S": ["abc", "0", "-5", "nan", "inf", "1e400"],
    "FMNIST_EXECUTOR": ["bogus", "RAY ", "local; rm"],
    "FMNIST_STORE_URL": ["sqlite:///tmp/x.db", "not a url", "postgresql://nobody@127.0.0.1:1/none"],
}


def env_case(name: str, value: str) -> Case:
    argv = ["train", "--preset", "linear", "--detach", "-mn", "fresh", "--subset", "500", "--epochs", "1"]

    def run() -> Outcome:
        home = fresh_home()
        before = snapshot(home)
        env = {
            "FMNIST_HOME": str(home),
            "FMNIST_AUTH_FILE": str(home / "auth.yaml"),
            name: value,
            "PATH": "/usr/bin:/bin",
            "FMNIST_PREWARM_S": "0",
        }
        proc = subprocess.run(
            [sys.executable, "-m", "fmnist_core", *argv], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
        )
        after = snapshot(home)
        gone = lost(before, after)
        queued = [r for r in (run_rows(home / "runs.sqlite") or []) if r[0] != 1]
        err = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        ok = (
            proc.returncode in (1, 2)
            and len(err) == 1
            and err[0].startswith("error:")
            and not queued
            and "Traceback" not in proc.stderr
        )
        if queued:  # a run slipped through: stop its worker's run so nothing trains on
            subprocess.run(
                [sys.executable, "-m", "fmnist_core", "stop", str(queued[0][0])],
                cwd=REPO,
                env={**env, name: ""},
                capture_output=True,
                timeout=120,
            )
        text = (
            f"exit {proc.returncode}: {err[0][:110] if err else ''}"
            + (f" (+{len(err) - 1} more stderr lines)" if len(err) > 1 else "")
            + (f"; QUEUED run {queued[0][0]}" if queued else "; nothing queued")
        )
        return Outcome(text, ok, traceback="Traceback" in proc.stderr, data_lost=bool(gone))

    return Case(
        f"env.{name}={value!r}",
        "Environment",
        f"{name}={value!r}, then train --detach",
        "exit 1/2, one line, nothing queued",
        cli_command(argv, {name: value}),
        run,
    )


def cases() -> list[Case]:
    return (
        train_cases()
        + train_here_cases()
        + command_cases()
        + model_command_cases()
        + study_cases()
        + [env_case(n, v) for n, vals in ENV_VALUES.items() for v in vals]
    )

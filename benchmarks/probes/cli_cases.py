"""Every CLI parameter's boundary values, generated per parameter type: the helpers every CLI probe
shares, and ``train`` and ``train-here``.

A refused value must give exit code 1 or 2, exactly one line on stderr starting "error:", no
traceback, and leave the home exactly as it was (nothing queued). An accepted boundary value
must exit 0 and reach the store unchanged (the harness's executor records the queued run and
starts no worker, so nothing trains).
"""

from __future__ import annotations

from pathlib import Path

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


def cases() -> list[Case]:
    return train_cases() + train_here_cases()

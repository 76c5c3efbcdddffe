"""CLI probes of the run commands: runs, stop, rename, delete, and the rest that take a run id
or name. The rules a refused or accepted value must meet are in cli_cases.py."""

from __future__ import annotations

import json

from benchmarks.probes.cli_cases import BIG, accept, bad_ints, reject
from benchmarks.probes.harness import (
    Case,
    run_rows,
)


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


def cases() -> list[Case]:
    return command_cases()

"""Probes of the surroundings: a read-only home and a full disk (a tmpfs in a private mount
namespace, see ``disk.py``), serving defaults and plain user text, and every page over a damaged
home (``streamlit.testing`` AppTest), bad models picked in the pages' model pickers included."""

from __future__ import annotations

import json
import os
import subprocess
import time
from functools import cache
from pathlib import Path

from benchmarks.probes.fault_cases import PY, _env, _home_env
from benchmarks.probes.harness import REPO, Case, Outcome, fresh_home, short

# ---------------------------------------------------------------- read-only home, full disk (namespace)


@cache
def _disk(scenario: str) -> tuple:
    from benchmarks.probes.harness import template_home

    args = ["--scenario", scenario] + (["--worker"] if scenario == "full" else [])
    proc = subprocess.run(
        ["unshare", "-m", PY, "-m", "benchmarks.probes.disk", "--template", str(template_home()), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        env=_env(Path("/nonexistent")),
    )
    if proc.returncode != 0:
        raise RuntimeError(f"unshare/mount failed: {proc.stderr.strip()[-200:]}")
    return tuple(json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{"))


def disk_case(scenario: str, cid: str) -> Case:
    from benchmarks.probes.disk import COMMANDS

    readers = {"models", "test"} | ({"runs", "stop", "store-reset"} if scenario == "full" else set())
    # readers: work, or answer in at most one line; writers: one line saying read-only / full
    says = ("not writable", "Read-only", "read-only") if scenario == "ro" else ("is full", "No space left")

    def run() -> Outcome:
        r = next(x for x in _disk(scenario) if x["id"] == cid)
        if cid == "worker-fills-the-disk":
            ((rid, status, message),) = r["record"]
            return Outcome(f"run {status}: {short(message, 130)}", status == "failed" and "is full" in message)
        lines = r["stderr"].splitlines()
        one = (
            r["code"] in (1, 2)
            and len(lines) == 1
            and lines[0].startswith("error:")
            and any(s in lines[0] for s in says)
        )
        ok = (
            r["intact"]
            and "Traceback" not in r["stderr"]
            and ((r["code"] == 0 or (r["code"] in (1, 2) and len(lines) == 1)) if cid in readers else one)
        )
        first = lines[0] if lines else (r["stdout"].splitlines() or [""])[0]
        return Outcome(
            f"exit {r['code']}: {short(first, 110)}; {'intact' if r['intact'] else 'HOME CHANGED'}",
            ok,
            traceback="Traceback" in r["stderr"],
            data_lost=not r["intact"],
        )

    argv = COMMANDS.get(cid, ["train", "..."])
    what = (
        "a real run trains, the disk fills under it, space is freed, `runs`"
        if cid == "worker-fills-the-disk"
        else f"`{' '.join(argv)}` on a {'read-only home' if scenario == 'ro' else 'full disk'}"
    )
    exp = (
        "the run records 'the disk ... is full'"
        if cid == "worker-fills-the-disk"
        else "works or one line, nothing lost"
        if cid in readers
        else "exit 1, one line saying what to do, nothing lost"
    )
    return Case(
        f"disk.{scenario}.{cid}",
        "Read-only home and full disk",
        what,
        exp,
        f"`unshare -m python -m benchmarks.probes.disk --template HOME --scenario {scenario}`",
        run,
    )


def disk_cases() -> list[Case]:
    from benchmarks.probes.disk import COMMANDS

    return (
        [disk_case("ro", c) for c in COMMANDS]
        + [disk_case("full", "worker-fills-the-disk")]
        + [disk_case("full", c) for c in COMMANDS]
    )


# ---------------------------------------------------------------- serving

HOSTILE = {
    "markdown-image": "![x](http://attacker.example/p.png)",
    "html-script": "<script>alert(1)</script>",
    "streamlit-colour": ":red[alarm] **bold**",
    "latex": "$\\frac{1}{0}$",
    "link": "[click](javascript:alert(1))",
    "heading-newline": "ok\n# Heading",
    "html-img": "<img src=x onerror=alert(1)>",
    "autolink": "<http://x.example>",
}


def plain_case(key: str, text: str) -> Case:
    def run() -> Outcome:
        import re

        from markdown_it import MarkdownIt

        from ui.app.text import plain

        safe = plain(text)
        html = MarkdownIt("commonmark").enable("table").render(safe)
        tags = sorted(set(re.findall(r"</?([a-zA-Z0-9]+)", html)) - {"p"})
        # Streamlit's own specials (:red[...], $LaTeX$) are not CommonMark: they must arrive escaped
        raw = re.findall(r"(?<!\\)[$:\[]", safe)
        return Outcome(
            f"{safe!r} renders as {short(html.strip(), 80)}; tags {tags}; unescaped {raw}", not tags and not raw
        )

    return Case(
        f"serve.plain.{key}",
        "Serving",
        f"user text {text!r} through `ui.app.text.plain`, then Markdown",
        "plain text: no tag but <p>",
        "`plain(text)` rendered by markdown-it (CommonMark)",
        run,
    )


def serving_cases() -> list[Case]:
    import tomllib

    g = "Serving"

    def config():
        from fmnist_core.data import imaging

        c = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
        got = (c["server"].get("address"), c["client"].get("showErrorDetails"), c["server"].get("maxUploadSize"))
        return Outcome(
            f"address {got[0]}, showErrorDetails {got[1]}, maxUploadSize {got[2]} MB",
            got == ("127.0.0.1", "none", imaging.MAX_UPLOAD_MB),
        )

    def make(host):
        def run():
            out = subprocess.run(
                ["make", "-n", "app"] + ([f"HOST={host}"] if host else []), cwd=REPO, capture_output=True, text=True
            ).stdout
            want = f"--server.address {host or '127.0.0.1'}"
            return Outcome(want if want in out else short(out, 100), want in out)

        return run

    def served_without_accounts():
        from streamlit.testing.v1 import AppTest

        env = {"FMNIST_SERVED": "1", "FMNIST_AUTH_FILE": "/nonexistent/auth.yaml", "FMNIST_HOME": str(fresh_home())}
        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=120).run()
        finally:
            for k, v in old.items():
                os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
        says = [e.value for e in at.error]
        return Outcome(
            f"no page ran: {not at.title}; says: {short(says, 90)}",
            not at.exception and not at.title and any("add-user" in s for s in says),
            traceback=bool(at.exception),
        )

    return [
        Case(
            "serve.config",
            g,
            "`.streamlit/config.toml`",
            "127.0.0.1, no error details, upload limit = the app's",
            "`cat .streamlit/config.toml`",
            config,
        ),
        Case("serve.make-app", g, "`make -n app`", "binds 127.0.0.1", "`make -n app`", make(None)),
        Case(
            "serve.make-app-host",
            g,
            "`make -n app HOST=0.0.0.0`",
            "binds 0.0.0.0 (the explicit choice)",
            "`make -n app HOST=0.0.0.0`",
            make("0.0.0.0"),
        ),
        Case(
            "serve.served-without-accounts",
            g,
            "served mode with no accounts file",
            "refuses to open, says add-user",
            "`FMNIST_SERVED=1 streamlit run streamlit_app.py`",
            served_without_accounts,
        ),
    ] + [plain_case(k, v) for k, v in HOSTILE.items()]


# ---------------------------------------------------------------- pages over a damaged home

PAGES = [
    "home",
    "dataset",
    "build_train",
    "compare_runs",
    "evaluate",
    "classify",
    "binary_study",
    "lr_finder",
    "few_shot",
]


@cache
def _damaged_home() -> Path:
    from benchmarks.probes import file_cases as fc

    home = fresh_home()
    for i, (field, v) in enumerate(
        [("name", 5), ("task", None), ("n_params", -1), ("val_metrics", {"accuracy": "high"})]
    ):
        fc._meta_damage(field, v)(home)
        os.replace(home / "m.keras", home / f"shape{i}.keras")
    fc._legacy(b"[]")(home)
    os.replace(home / "m.keras", home / "legacy.keras")
    os.replace(home / "m.json", home / "legacy.json")
    (home / "garbage.keras").write_bytes(b"\x00\xff" * 5000)
    (home / "truncated.keras").write_bytes((home / "kept.keras").read_bytes()[:3000])
    import zipfile

    from fmnist_core.modeling import saving

    with zipfile.ZipFile(saving.find_model("shoes_cnn")) as zf:  # weights of another architecture, hash recomputed
        weights = zf.read("model.weights.h5")
    fc._rewrite(
        home / "kept.keras",
        home / "forged.keras",
        {**fc._kept_meta(home), "name": "forged"},
        add={"model.weights.h5": weights},
    )
    (home / "runs.sqlite").write_bytes(b"SQLite format 3\x00" + b"\xee" * 8192)
    for side in ("runs.sqlite-wal", "runs.sqlite-shm"):
        (home / side).unlink(missing_ok=True)
    return home


def page_case(page: str) -> Case:
    def run() -> Outcome:
        from streamlit.testing.v1 import AppTest

        home = _damaged_home()
        before = {p.name: p.read_bytes() for p in home.iterdir() if p.is_file()}
        with _home_env(home):
            at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=300)
            at.switch_page(f"pages/{page}.py")
            at.run()
        after = {p.name: p.read_bytes() for p in home.iterdir() if p.is_file()}
        changed = [k for k in before if after.get(k) != before[k]]
        errors = [short(e.value, 60) for e in at.error]
        ok = not at.exception and bool(at.title) and not changed
        return Outcome(
            f"{'EXCEPTION ' + short(at.exception[0].value, 80) if at.exception else 'rendered'}; title "
            f"{short(at.title[0].value, 40) if at.title else '-'}; messages {errors[:2]}; "
            f"{'files unchanged' if not changed else 'CHANGED ' + str(changed)}",
            ok,
            traceback=bool(at.exception),
            data_lost=bool(changed),
        )

    return Case(
        f"page.{page}",
        "Pages over a damaged home",
        f"page `{page}` over 7 damaged model files, a forged one and a corrupt run store",
        "renders, no exception, every file's bytes unchanged",
        f"`AppTest.from_file('streamlit_app.py').switch_page('pages/{page}.py')`",
        run,
    )


def page_pick_case(page: str, model: str) -> Case:
    """Choose a bad model in the page's model picker (if it is offered at all): the page must say so, not crash."""

    def run() -> Outcome:
        from streamlit.testing.v1 import AppTest

        home = _damaged_home()
        with _home_env(home):
            at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=300)
            at.switch_page(f"pages/{page}.py")
            at.run()
            boxes = [b for b in at.selectbox if any(model in str(o) for o in (b.options or []))]
            if not boxes:
                return Outcome(
                    f"{model!r} is not offered by any picker", not at.exception, traceback=bool(at.exception)
                )
            box = boxes[0]
            box.select(next(o for o in box.options if model in str(o))).run()
            deadline = time.monotonic() + 90  # Evaluate computes a new model's predictions in the background
            while (
                page == "evaluate"
                and not at.exception
                and time.monotonic() < deadline
                and not any("damaged" in e.value for e in at.error)
            ):
                time.sleep(1)
                at.run()
        said = [short(e.value, 110) for e in list(at.error) + list(at.warning)]
        ok = not at.exception and (page != "evaluate" or any("damaged" in s for s in said))
        return Outcome(
            f"{'EXCEPTION ' + short(at.exception[0].value, 80) if at.exception else 'no exception'}; says {said[:2]}",
            ok,
            traceback=bool(at.exception),
        )

    return Case(
        f"page.{page}.pick-{model}",
        "Pages over a damaged home",
        f"pick `{model}` on `{page}`",
        "not offered, or offered and the page keeps serving"
        + (
            ", saying 'damaged' once it tries the model"
            if page == "evaluate"
            else " (it loads the model only when an image is classified)"
        ),
        f"AppTest: select {model!r} in {page}'s model picker",
        run,
    )


def cases() -> list[Case]:
    return (
        disk_cases()
        + serving_cases()
        + [page_case(p) for p in PAGES]
        + [
            page_pick_case(p, m)
            for p in ("evaluate", "classify", "binary_study")
            for m in ("forged", "shape0", "garbage", "legacy")
        ]
    )

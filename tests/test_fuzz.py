"""A fuzz corpus of bad inputs through the CLI, ``imaging.load_upload`` and every page.

Each case must end in a clear message (one line, no traceback, exit code 1 or 2 for the CLI),
and the home must be left intact: the same files with the same bytes, the same runs.
The corpus holds the probes of issue 11 and more; RELIABILITY.md lists them.
"""

import hashlib
import io
import json
import shutil
import sqlite3
import struct
import zipfile
import zlib

import pytest
from streamlit.testing.v1 import AppTest

from fmnist_core import cli
from fmnist_core.data import imaging
from fmnist_core.data.tasks import get_task
from fmnist_core.modeling import saving
from fmnist_core.modeling.models import build_model, normalize_spec
from fmnist_core.runs.store import RunStore
from ui.app import frame

BIG = str(2**70)
TRAIN = ["train", "--preset", "linear", "--detach"]
CLI_CASES = [
    # seeds, ids and numbers out of range (issue 11 item 6)
    TRAIN + ["-mn", "x", "--seed", "-1"],
    TRAIN + ["-mn", "x", "--seed", str(2**32)],
    TRAIN + ["-mn", "x", "--seed", str(2**64)],
    TRAIN + ["-mn", "x", "--seed", "abc"],
    TRAIN + ["-mn", "x", "--seed", "1e3"],
    ["stop", "1180591620717411303424"],
    ["stop", "-1"],
    ["stop", "0"],
    ["stop", "abc"],
    ["stop", "424242"],
    TRAIN + ["-mn", "x", "--subset", "20"],
    TRAIN + ["-mn", "x", "--subset", "0"],
    TRAIN + ["-mn", "x", "--subset", BIG],
    TRAIN + ["-mn", "x", "--epochs", "0"],
    TRAIN + ["-mn", "x", "--epochs", BIG],
    TRAIN + ["-mn", "x", "--lr", "inf"],
    TRAIN + ["-mn", "x", "--lr", "nan"],
    TRAIN + ["-mn", "x", "--lr", "-1"],
    TRAIN + ["-mn", "x", "--lr", "0"],
    TRAIN + ["-mn", "x", "--batch-size", "0"],
    TRAIN + ["-mn", "x", "--augment-shift", "5"],
    TRAIN + ["-mn", "x", "--early-stopping", "-3"],
    # names
    TRAIN + ["-mn", "x\n"],
    TRAIN + ["-mn", "../x"],
    TRAIN + ["-mn", ""],
    TRAIN + ["-mn", "x" * 65],
    TRAIN + ["-mn", "évil"],
    TRAIN + ["-mn", "a/b"],
    TRAIN + ["-mn", "x", "--init-from", "ghost"],
    TRAIN + ["-mn", "x", "--init-from", "a b"],
    TRAIN[:-2] + ["tinyvgg", "--detach", "-mn", "x", "--init-from", "shoes_cnn"],
    TRAIN + ["-mn", "kept"],  # an existing model without --overwrite
    # tasks and statuses
    TRAIN + ["-mn", "x", "--task", "foo"],
    TRAIN + ["-mn", "x", "--task", "custom_"],
    TRAIN + ["-mn", "x", "--task", "custom_0123456789"],
    ["runs", "--task", "foo"],
    ["runs", "--status", "done"],
    # other commands
    ["test", "-mn", "nope"],
    ["test", "-mn", "../etc/passwd"],
    ["test", "-mn", "kept", "--split", "train"],
    ["test", "-mn", "damaged"],
    ["lr-find", "--preset", "linear", "--end-lr", "inf"],
    ["lr-find", "--preset", "linear", "--end-lr", "nan"],
    ["lr-find", "--preset", "linear", "--start-lr", "0"],
    ["lr-find", "--preset", "linear", "--num-batches", "1"],
    ["lr-find", "--preset", "linear", "--subset", "20"],
    ["compare-binary", "--seeds", "0"],
    ["compare-binary", "--seeds", BIG],
    ["compare-binary", "--epochs", "0"],
    ["train-here", "--preset", "linear", "-mn", "x", "--subset", "20"],
    ["train-here", "--preset", "linear", "-mn", "kept"],
    ["delete", "run", "999999"],
    ["delete", "run", BIG],
    ["delete", "model", "shoes_cnn"],
    ["delete", "model", "../x"],
    ["delete", "sweep", "nope"],
    ["rename", "model", "nope", "x"],
    ["rename", "model", "kept", "bad name"],
    ["rename", "run", "1", ""],
    ["rename", "run", "1", "two\nlines"],
    ["rename", "sweep", "nope", "x"],
    ["add-user", "Bad Name", "--password-stdin"],
    ["nonsense"],
    ["train"],
    [],
]
ENV_CASES = [("FMNIST_MAX_WORKERS", v) for v in ("0", "abc", "99", "²", "-1", " 1")]


def save_kept(home):
    """One healthy model, ``kept``, in ``home``."""
    meta = {"task": get_task("shoes").to_dict(), "spec": normalize_spec("linear"), "hparams": {}}
    saving.save_model(build_model("linear", "shoes"), "kept", meta, home)


def snapshot(home):
    """Every file's bytes (hash) and every run row: what 'intact' means."""
    files = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(home.iterdir())
        if p.is_file() and not p.name.startswith("runs.sqlite")
    }
    runs = [(r["id"], r["name"], r["status"], r["model_name"]) for r in RunStore(home / "runs.sqlite").list_runs()]
    return files, runs


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    home = tmp_path_factory.mktemp("fuzz_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FMNIST_HOME", str(home))
        save_kept(home)
        (home / "damaged.keras").write_bytes(b"PK\x03\x04 not really a zip")
        store = RunStore()
        rid = store.create_run(
            "done", get_task("shoes"), normalize_spec("linear"), {}, model_name="kept", overwrite=True
        )
        store.mark_running(rid, 1)
        store.finish(rid, "completed", val={"accuracy": 0.9})
        store.close()
        yield home


def _code(argv):
    try:
        return cli.main(argv)
    except SystemExit as exc:
        return exc.code


@pytest.mark.parametrize("argv", CLI_CASES, ids=[" ".join(a)[:60] or "(none)" for a in CLI_CASES])
def test_cli_bad_input_is_one_line_and_the_home_is_intact(home, argv, monkeypatch, capsys):
    monkeypatch.setenv("FMNIST_HOME", str(home))
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    before = snapshot(home)
    code = _code(argv)
    out, err = capsys.readouterr()
    assert code in (1, 2), (argv, code, out, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err and lines[0].startswith(("error:", "usage:")), err
    assert snapshot(home) == before


@pytest.mark.parametrize("name,value", ENV_CASES)
def test_bad_environment_queues_nothing(home, name, value, monkeypatch, capsys):
    monkeypatch.setenv("FMNIST_HOME", str(home))
    monkeypatch.setenv(name, value)
    before = snapshot(home)
    assert _code(TRAIN + ["-mn", "fresh"]) == 2
    assert capsys.readouterr().err.startswith(f"error: {name}")
    assert snapshot(home) == before


def _png(width, height, bit_depth=8, colour=0, body=b"") -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(body)) + chunk(b"IEND", b"")


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.txt", "x")
    return buf.getvalue()


UPLOADS = {
    "empty": b"",
    "text": b"hello, I am not an image\n" * 10,
    "zip": _zip(),
    "html": b"<html><script>x</script>",
    "svg": b'<svg xmlns="http://www.w3.org/2000/svg"><rect width="9" height="9"/></svg>',
    "png-header-only": b"\x89PNG\r\n\x1a\n",
    "png-truncated": _png(64, 64, body=bytes(65 * 64))[:60],
    "png-bomb-header": _png(100_000, 100_000),
    "png-zero-size": _png(0, 0),
    "jpeg-header-only": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    "gif-header-only": b"GIF89a",
    "too-many-bytes": b"\x89PNG\r\n\x1a\n" + bytes(imaging.MAX_UPLOAD_BYTES + 1),
}


@pytest.mark.parametrize("name", list(UPLOADS))
def test_bad_uploads_get_a_clear_message(name):
    with pytest.raises(imaging.ImageInputError) as err:
        imaging.load_upload(UPLOADS[name])
    message = str(err.value)
    assert message and "Traceback" not in message and len(message) < 300


def _damage_home(home):
    """Every wrong-shaped metadata of issue 11 item 5, plus garbage and truncated model files."""
    good = home / "kept.keras"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(home / "legacy.keras", "w") as zout:
        for info in zin.infolist():
            if info.filename != saving.META_ENTRY:
                zout.writestr(info, zin.read(info.filename))
    for i, doc in enumerate([[], None, {}, {"name": 5}, {"name": "x", "val_metrics": {"accuracy": "high"}}]):
        shutil.copy(home / "legacy.keras", home / f"shape{i}.keras")
        (home / f"shape{i}.json").write_text(json.dumps(doc))
    (home / "legacy.keras").unlink()
    (home / "garbage.keras").write_bytes(b"\x00\xff" * 5000)
    (home / "truncated.keras").write_bytes(good.read_bytes()[:5000])


@pytest.fixture(scope="module")
def damaged_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("damaged_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FMNIST_HOME", str(home))
        save_kept(home)
        _damage_home(home)
        yield home


def test_models_command_lists_damaged_files_and_keeps_serving(damaged_home, monkeypatch, capsys):
    monkeypatch.setenv("FMNIST_HOME", str(damaged_home))
    assert cli.main(["models", "--json"]) == 0
    listed = {m["name"]: m for m in json.loads(capsys.readouterr().out)}
    assert "error" not in listed["kept"]
    bad = [n for n in listed if n.startswith(("shape", "garbage", "truncated", "damaged"))]
    assert len(bad) == 7 and all(listed[n]["error"].startswith("damaged: ") for n in bad)


# The pages that read saved models or the run store (Dataset and Few-shot read neither's listing).
PAGES = [
    "pages/home.py",
    "pages/build_train.py",
    "pages/compare_runs.py",
    "pages/evaluate.py",
    "pages/classify.py",
    "pages/binary_study.py",
    "pages/lr_finder.py",
]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_keeps_serving_over_a_damaged_home(damaged_home, page, monkeypatch):
    """Damaged models and a corrupt run store at once: each page still renders, with a clear message."""
    monkeypatch.setenv("FMNIST_HOME", str(damaged_home))
    store = damaged_home / "runs.sqlite"
    if not store.exists():
        store.write_bytes(b"SQLite format 3\x00" + b"\xee" * 8192)
    before = {p.name: p.read_bytes() for p in damaged_home.iterdir() if p.is_file()}
    at = AppTest.from_file(str(frame.ROOT / "streamlit_app.py"), default_timeout=300)
    at.switch_page(page)
    at.run()
    assert not at.exception, (page, [e.value for e in at.exception])
    assert at.title, page  # the page itself ran, not a fallback
    if page == "pages/compare_runs.py":
        assert any("is damaged" in e.value for e in at.error)
        assert at.checkbox(key="store_reset_agree").value is False  # a fresh store only on consent
        assert at.button(key="store_reset_go").disabled
    assert {p.name: p.read_bytes() for p in damaged_home.iterdir() if p.is_file()} == before


# ---------------------------------------------------------------- found by benchmarks/probe_reliability.py


def test_exporting_a_damaged_model_is_refused_and_writes_nothing(home, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FMNIST_HOME", str(home))
    out = tmp_path / "out.keras"
    assert _code(["export", "-mn", "damaged", "--format", "keras", "-o", str(out)]) == 1
    assert "is damaged" in capsys.readouterr().err and not out.exists()


@pytest.mark.parametrize("flag", ["--multiclass", "--binary", "--transfer"])
def test_compare_binary_refuses_a_model_that_does_not_exist(home, flag, monkeypatch, capsys):
    """It used to fall back silently to the default model of that approach."""
    monkeypatch.setenv("FMNIST_HOME", str(home))
    assert _code(["compare-binary", flag, "nope"]) in (1, 2)
    assert "no saved model named 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "name,value",
    [
        ("FMNIST_EXECUTOR", "bogus"),
        ("FMNIST_EXECUTOR", "ray"),
        ("FMNIST_STORE_URL", "not a url"),
        ("FMNIST_LEASE_TIMEOUT_S", "2"),
        ("FMNIST_LEASE_TIMEOUT_S", "nan"),
    ],
)
def test_a_bad_setting_is_refused_before_anything_is_queued(home, name, value, monkeypatch, capsys, tmp_path):
    from fmnist_core.runs import executors

    monkeypatch.setenv("FMNIST_HOME", str(home))
    monkeypatch.chdir(tmp_path)  # a store URL taken for a path would land here
    monkeypatch.setenv(name, value)
    monkeypatch.setattr(executors, "_executor", None)
    before = snapshot(home)
    assert _code(TRAIN + ["-mn", "fresh"]) == 2
    assert capsys.readouterr().err.startswith(f"error: {name}")
    assert snapshot(home) == before and list(tmp_path.iterdir()) == []


def test_a_lease_timeout_that_is_not_a_number_is_one_line(home, tmp_path):
    """Read when the module is imported: a separate process, as a user would run it."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, FMNIST_HOME=str(home), FMNIST_LEASE_TIMEOUT_S="abc")
    proc = subprocess.run(
        [sys.executable, "-m", "fmnist_core", *TRAIN, "-mn", "fresh"],
        env=env,
        cwd=frame.ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith("error: FMNIST_LEASE_TIMEOUT_S")


def test_store_reset_sees_a_store_whose_tables_are_gone(tmp_path, monkeypatch, capsys):
    """`runs` called it damaged and pointed at store-reset, which called it healthy: the user was stuck."""
    import contextlib

    monkeypatch.setenv("FMNIST_HOME", str(tmp_path))
    RunStore().close()
    with contextlib.closing(sqlite3.connect(tmp_path / "runs.sqlite", isolation_level=None)) as conn:
        conn.execute("DROP TABLE runs")
    assert _code(["runs"]) == 1 and "store-reset" in capsys.readouterr().err
    assert _code(["store-reset", "--yes"]) == 0
    assert "kept the damaged store as" in capsys.readouterr().out
    assert _code(["runs"]) == 0


def test_a_model_with_another_architectures_weights_is_one_line_and_never_half_loaded(tmp_path, monkeypatch, capsys):
    """Keras warns ('Skipping nested container ... freshly-initialized weights') before it fails: the user
    saw those lines before ours, and a load that only warned would have kept random weights."""
    monkeypatch.setenv("FMNIST_HOME", str(tmp_path))
    save_kept(tmp_path)
    with zipfile.ZipFile(saving.find_model("shoes_cnn")) as zf:
        weights = zf.read("model.weights.h5")
    with zipfile.ZipFile(tmp_path / "kept.keras") as zin, zipfile.ZipFile(tmp_path / "forged.keras", "w") as zout:
        for info in zin.infolist():
            if info.filename != saving.META_ENTRY:
                zout.writestr(info, weights if info.filename == "model.weights.h5" else zin.read(info.filename))
        meta = {**json.loads(zin.read(saving.META_ENTRY)), "name": "forged", "model_file": "forged.keras"}
    with zipfile.ZipFile(tmp_path / "forged.keras") as zf:
        meta["payload_sha256"] = saving._payload_sha256(zf)
    with zipfile.ZipFile(tmp_path / "forged.keras", "a") as zf:
        zf.writestr(saving.META_ENTRY, json.dumps(meta))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert _code(["test", "-mn", "forged"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is damaged" in err, err


@pytest.mark.parametrize("task", ["custom_²", "custom_٣"])
def test_a_task_with_non_ascii_digits_is_an_unknown_task(home, task, monkeypatch, capsys):
    """'²'.isdigit() is True: it used to reach int() ('invalid literal for int()'), or become custom_3."""
    monkeypatch.setenv("FMNIST_HOME", str(home))
    assert _code(["runs", "--task", task]) == 2
    assert "unknown task" in capsys.readouterr().err


def test_compare_binary_may_name_replicates_that_do_not_exist_yet(home, monkeypatch, capsys):
    """With --seeds, a new --binary name is the base of the replicates to train, not an error."""
    from fmnist_core.studies import replicates

    monkeypatch.setenv("FMNIST_HOME", str(home))
    calls = []
    monkeypatch.setattr(
        replicates, "plan_replicates", lambda *a, **k: calls.append(a) or (_ for _ in ()).throw(ValueError("planned"))
    )
    assert _code(["compare-binary", "--binary", "brand_new", "--seeds", "2"]) == 2
    assert calls and calls[0][3] == "brand_new" and "planned" in capsys.readouterr().err

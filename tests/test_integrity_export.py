"""Code generation never interpolates text: a ``.keras`` whose metadata was edited (the payload hash
still checks) exports a training script in which every recorded value is an inert literal. The
script is run for real: the injected code must not run, and the values must come back verbatim."""

import json
import os
import subprocess
import sys
import zipfile

import pytest

from fmnist_core.data.tasks import get_task
from fmnist_core.modeling import saving
from fmnist_core.modeling.models import build_model, normalize_spec
from fmnist_core.modeling.saving import META_ENTRY, REPO_ROOT


def _payloads(marker) -> list[str]:
    """Text that runs code if it is pasted into Python source, or expanded by a template."""
    boom = f"__import__('os').system('touch {marker}')"
    return [
        f'"""\n{boom}\n"""',
        f"'''\n{boom}\n'''",
        f'" + {boom} + "',
        f"' + {boom} + '",
        f"\n{boom}\n#",
        "{{MODEL_CODE}}",
        "{{HPARAMS}}",
        "{{NAME}}",
        f"${{x}} $x {{x}} %s {boom}",
        f"\\\n{boom}",
        f"\r{boom}",
    ]


def _poison(path, marker) -> dict:
    """Rewrite the metadata inside a .keras file, as someone who shares a model file could."""
    with zipfile.ZipFile(path) as zf:
        entries = {i.filename: zf.read(i.filename) for i in zf.infolist()}
    meta = json.loads(entries[META_ENTRY])
    bad = _payloads(marker)
    meta["versions"] = {f"lib{i}": text for i, text in enumerate(bad)} | {"{{SPEC}}": bad[0]}
    meta["val_metrics"] = {"accuracy": 0.5, "n": bad[0]}
    meta["test_metrics"] = {"accuracy": 0.5, "n": bad[2]}
    meta["task"] = {**meta["task"], "description": "\n".join(bad)}
    entries[META_ENTRY] = json.dumps(meta).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return meta


@pytest.mark.slow
def test_an_exported_script_from_adversarial_metadata_runs_no_injected_code(fmnist_home, tmp_path):
    marker = tmp_path / "INJECTED"
    meta = {
        "task": get_task("shoes").to_dict(),
        "spec": normalize_spec("linear"),
        "hparams": {"epochs": 1, "precision": "float32"},
    }
    path = saving.save_model(build_model("linear", "shoes"), "poisoned", meta, fmnist_home)
    meta = _poison(path, marker)
    assert saving.load_metadata("poisoned")["versions"] == meta["versions"]  # the hash still checks

    env = {**os.environ, "FMNIST_HOME": str(fmnist_home)}
    out = subprocess.run(
        [sys.executable, "-m", "fmnist_core", "export", "-mn", "poisoned", "--format", "script", "-o", str(tmp_path)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    script = tmp_path / "poisoned_train.py"
    compile(script.read_text(), str(script), "exec")  # still valid Python

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run(
        [
            sys.executable,
            str(script),
            "--epochs",
            "1",
            "--subset",
            "600",
            "--save",
            str(tmp_path / "again.keras"),
            "--json",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert not marker.exists(), "the exported script ran code from the model's metadata"
    res = json.loads(run.stdout.strip().splitlines()[-1])
    assert res["model"] == "poisoned" and res["n_train"] + res["n_val"] == 600

"""The training recipe's pieces: the quick preset and its recipe, the CLI's recipe flags, the
time-to-accuracy benchmark's bookkeeping (no timing is asserted: speed lives in benchmarks/)."""

import pytest

from fmnist_core.cli.common import hparams_from_args
from fmnist_core.cli.main import build_parser
from fmnist_core.modeling import models
from fmnist_core.modeling.training import HParams


def test_quick_is_the_default_preset_and_its_recipe_is_valid_hparams():
    assert models.DEFAULT_PRESET == "quick" and "quick" in models.PRESETS
    # conv 3x3 1->16 (160) + BN 64 + conv 16->32 (4,640) + BN 128 + Dense 1568->128 (200,832) + BN 512
    # + output 128->10 (1,290)
    assert models.count_params("quick") == 160 + 64 + 4_640 + 128 + 200_832 + 512 + 1_290
    hp = HParams.from_dict(models.RECIPES["quick"])
    # auto: measured per machine (tests/test_precision.py), so the recipe is fast on every laptop
    assert hp.precision == "auto" and hp.schedule == "onecycle"


def test_train_here_takes_the_recipe_flags():
    args = build_parser().parse_args(
        [
            "train-here",
            "--preset",
            "quick",
            "-mn",
            "m",
            "--precision",
            "mixed_bfloat16",
            "--label-smoothing",
            "0.1",
            "--augment-erase",
            "0.25",
        ]
    )
    hp = HParams.from_dict(hparams_from_args(args))
    assert (hp.precision, hp.label_smoothing, hp.augment_erase) == ("mixed_bfloat16", 0.1, 0.25)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train-here", "--preset", "quick", "-mn", "m", "--precision", "float16"])


def test_benchmark_table_reports_time_to_each_level_and_ratios():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_time_to_accuracy.py"
    spec = importlib.util.spec_from_file_location("bench_tta", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)

    def result(name, hits):  # hits: {level: (epoch, wall, cpu)}
        return {
            "recipe": name,
            "best_val_accuracy": 0.95,
            "reached": {
                f"{t:.0%}": ({"epoch": hits[t][0], "wall_s": hits[t][1], "cpu_s": hits[t][2]} if t in hits else None)
                for t in bench.THRESHOLDS
            },
        }

    rows = bench.table(
        [
            result("quick", {0.90: (2, 20, 35), 0.92: (4, 40, 70)}),
            result("old_fmnist_net", {0.90: (2, 120, 200), 0.92: (3, 180, 300), 0.93: (5, 300, 500)}),
        ]
    )
    quick_row = next(r for r in rows.splitlines() if r.startswith("| quick"))
    assert "| 2, 20, 35 | 4, 40, 70 | not reached | not reached |" in quick_row
    assert "4.50x faster to 92%" in quick_row  # 180 s / 40 s, the highest level both reached

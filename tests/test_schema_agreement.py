"""The command line, Build & Train's form and the job queue accept and refuse the same
hyperparameters, because all three validate through ``fmnist_core.schema.hparams``.

Each value goes (1) through ``python -m fmnist_core train --detach`` (``cli.main``: exit 0 =
queued, 2 = refused), (2) through the form's ``ui.training.run_widgets.hparam_errors`` and (3) through
``jobs.submit``. Nothing trains: the executor here never starts a worker, and every test checks
that no worker log was written.
"""

import itertools
import math

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from fmnist_core import cli
from fmnist_core.runs import executors, jobs
from fmnist_core.runs.store import RunStore
from fmnist_core.schema.hparams import MAX_SEED, HParams
from ui.training.run_widgets import hparam_errors

# (hyperparameters as the form would give them, accepted?)
TABLE = [
    ({}, True),
    ({"seed": 0}, True),
    ({"seed": MAX_SEED}, True),
    ({"seed": MAX_SEED + 1}, False),
    ({"seed": -1}, False),
    ({"seed": 2**31}, True),  # the form used to stop at 2**31 - 1
    ({"early_stopping": 0}, True),
    ({"early_stopping": 500}, True),
    ({"early_stopping": 101}, True),
    ({"early_stopping": 501}, False),
    ({"early_stopping": -1}, False),
    ({"lr": 1e-3}, True),
    ({"lr": 10.0}, True),
    ({"lr": 0.0}, False),
    ({"lr": -1.0}, False),
    ({"lr": 10.5}, False),
    ({"lr": math.inf}, False),
    ({"lr": math.nan}, False),
    ({"batch_size": 1}, True),
    ({"batch_size": 8192}, True),
    ({"batch_size": 0}, False),
    ({"batch_size": 8193}, False),
    ({"batch_size": 2.5}, False),
    ({"epochs": 1}, True),
    ({"epochs": 500}, True),
    ({"epochs": 0}, False),
    ({"epochs": 501}, False),
    ({"epochs": 2.5}, False),
    ({"precision": "auto"}, True),
    ({"precision": "float32"}, True),
    ({"precision": "mixed_bfloat16"}, True),
    ({"precision": "mixed_float16"}, True),
    ({"precision": "float16"}, False),
    ({"precision": "bfloat16"}, False),
    ({"precision": ""}, False),
    ({"optimizer": "sgd"}, True),
    ({"optimizer": "adagrad"}, False),
    ({"schedule": "onecycle"}, True),
    ({"schedule": "warp"}, False),
    ({"momentum": 0.99}, True),
    ({"momentum": 1.0}, False),
    ({"step_epoch": 500}, True),
    ({"step_epoch": 0}, False),
    ({"step_factor": 1.0}, True),
    ({"step_factor": 0.0}, False),
    ({"decay_rate": 1.5}, False),
    ({"val_fraction": 0.05}, True),
    ({"val_fraction": 0.5}, True),
    ({"val_fraction": 0.04}, False),
    ({"subset": 91}, True),
    ({"subset": 90}, False),  # the validation split needs 10 images
    ({"subset": 60000}, True),
    ({"subset": 60001}, False),
    ({"subset": 0}, False),
    ({"label_smoothing": 0.49}, True),
    ({"label_smoothing": 0.5}, False),
    ({"augment_shift": 0.3}, True),
    ({"augment_shift": 0.31}, False),
    ({"augment_erase": 1.0}, True),
    ({"augment_erase": 1.5}, False),
    ({"augment_flip": True}, True),
    ({"normalize": False}, True),
    ({"init_from": "../evil"}, False),
    ({"init_from": "a b"}, False),
    ({"bogus": 1}, False),
    ({"learning_rate": 0.1}, False),  # unknown keys
    ({"lr": 0.01, "batch_size": 64, "seed": MAX_SEED, "precision": "mixed_bfloat16"}, True),
]
_names = (f"agree{i}" for i in itertools.count())


class NoWorker(executors.Executor):
    """Queues and nothing else: these tests are about what is accepted, not about training."""

    def ensure_worker(self, store):
        return False


@pytest.fixture
def store(fmnist_home):
    old = executors._executor
    executors.set_executor(NoWorker())
    yield RunStore()
    executors.set_executor(old)
    assert not (fmnist_home / "logs").exists()  # no worker was ever started


def via_cli(hp: dict, capsys) -> bool:
    argv = ["train", "--preset", "linear", "-mn", next(_names), "--detach"]
    for key, value in hp.items():
        if (key, value) == ("augment_flip", True):
            argv.append("--augment-flip")
        elif (key, value) == ("normalize", False):
            argv.append("--no-normalize")
        elif value is not None:
            argv += ["--" + key.replace("_", "-"), str(value)]
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # refused by the parser
        code = exc.code
    err = capsys.readouterr().err
    assert code in (0, 2), err
    if code:
        assert err.startswith("error: ") and err.count("\n") == 1, err  # one line
    return code == 0


def via_form(hp: dict) -> bool:
    out, errors = hparam_errors(hp)
    assert (out is None) == bool(errors)
    assert all("\n" not in msg for msg in errors.values())
    return not errors


def via_submit(hp: dict, store) -> bool:
    try:
        jobs.submit("linear", "multiclass", hp, store=store)
    except ValueError as exc:
        msg = str(exc)
        assert "\n" not in msg and any(key in msg for key in hp), msg  # one line, naming the field
        return False
    return True


def verdicts(hp, store, capsys) -> dict:
    return {"cli": via_cli(hp, capsys), "form": via_form(hp), "submit": via_submit(hp, store)}


@pytest.mark.parametrize("hp,ok", TABLE, ids=[repr(hp) for hp, _ in TABLE])
def test_the_cli_the_form_and_submit_agree(store, capsys, hp, ok):
    assert verdicts(hp, store, capsys) == {"cli": ok, "form": ok, "submit": ok}


def test_a_refused_value_is_named_with_what_is_allowed(store, capsys):
    assert not via_cli({"seed": MAX_SEED + 1}, capsys)
    with pytest.raises(ValueError, match=r"^seed must be an integer in 0-4294967295, got 4294967296$"):
        jobs.submit("linear", "multiclass", {"seed": MAX_SEED + 1}, store=store)
    assert hparam_errors({"seed": MAX_SEED + 1})[1] == {
        "Seed": "seed must be an integer in 0-4294967295, got 4294967296"
    }
    assert hparam_errors({"lr": math.inf})[1] == {
        "Learning rate": "lr (learning rate) must be a number in (0, 10], got inf"
    }


def test_the_cli_choices_are_the_schemas():
    sub = next(a for a in cli.build_parser()._actions if a.dest == "command").choices
    flags = {a.dest: a for a in sub["train"]._actions}
    for name in ("optimizer", "schedule", "precision"):
        assert tuple(flags[name].choices) == HParams.choices(name)
        assert flags[name].default == HParams.model_fields[name].default
    assert HParams.choices("precision") == ("auto", "float32", "mixed_bfloat16", "mixed_float16")
    assert HParams().precision == "auto"


FIELD_VALUES = st.one_of(
    st.tuples(st.sampled_from(["seed"]), st.integers(-2, MAX_SEED + 2) | st.integers(MAX_SEED - 2, MAX_SEED + 2)),
    st.tuples(st.sampled_from(["epochs", "early_stopping", "step_epoch"]), st.integers(-2, 503)),
    st.tuples(st.just("batch_size"), st.integers(-1, 8194)),
    st.tuples(st.just("subset"), st.integers(-1, 200) | st.integers(59990, 60010)),
    st.tuples(
        st.sampled_from(["lr", "momentum", "label_smoothing", "augment_shift", "augment_erase", "val_fraction"]),
        st.floats(-1, 11) | st.sampled_from([math.inf, -math.inf, math.nan, 0.0, 1.0, 10.0]),
    ),
    st.tuples(
        st.sampled_from(["optimizer", "schedule", "precision"]),
        st.text(max_size=16) | st.sampled_from(list(HParams.choices("optimizer") + HParams.choices("precision"))),
    ),
)


@hyp_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(FIELD_VALUES)
def test_generated_values_get_the_same_verdict_everywhere(store, capsys, field_value):
    key, value = field_value
    hp = {key: value}
    if isinstance(value, str) and (
        value.strip() != value or not value or value.startswith("-") or not value.isprintable()
    ):
        return  # a command line cannot carry it as one argument unchanged
    got = verdicts(hp, store, capsys)
    assert len(set(got.values())) == 1, (hp, got)
    assert got["submit"] == (HParams.errors(hp) == {})

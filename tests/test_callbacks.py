"""Direct tests of the five callbacks in ``modeling/callbacks.py``, on a tiny synthetic Keras model.

Each callback is driven twice where that tells something: by hand with fake Keras logs (exact
arithmetic, a fake clock for the throttle) and inside a real ``fit`` of a 4-input softmax
model on 64 random rows (what Keras really calls, in what order). Nothing here reads the dataset.
"""

import types

import keras
import numpy as np
import pytest

from fmnist_core.modeling import callbacks as cb
from fmnist_core.modeling.training import HParams

N, BATCH = 64, 16  # 4 batches per epoch
STEPS = N // BATCH


def tiny_model(units=3, activation="softmax", loss="sparse_categorical_crossentropy", lr=0.01):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(5, activation="relu", name="hidden"),
            keras.layers.Dense(units, activation=activation, name="out"),
        ]
    )
    model.compile(optimizer=keras.optimizers.SGD(lr), loss=loss, metrics=["accuracy"])
    return model


def tiny_data(classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(N, 4)).astype("float32"), rng.integers(0, classes, N)


class Recorder(keras.callbacks.Callback):
    """What Keras did: batches run, epochs ended, validation passes started."""

    def __init__(self):
        super().__init__()
        self.batches, self.epochs, self.validations = 0, [], 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(epoch)

    def on_test_begin(self, logs=None):
        self.validations += 1


def fit(model, callbacks, epochs=2, x=None, y=None):
    if x is None:
        x, y = tiny_data()
    rec = Recorder()
    model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=epochs,
        validation_data=(x[:16], y[:16]),
        shuffle=False,
        callbacks=[*callbacks, rec],
        verbose=0,
    )
    return rec


class FakeClock:
    def __init__(self, t=100.0):
        self.t = t

    def perf_counter(self):
        return self.t


@pytest.fixture
def clock(monkeypatch):
    """The callbacks module's clock, and only its clock (Keras keeps the real one)."""
    fake = FakeClock()
    monkeypatch.setattr(cb, "time", types.SimpleNamespace(perf_counter=fake.perf_counter))
    return fake


def attach(callback, model, steps=STEPS):
    callback.set_model(model)
    callback.set_params({"steps": steps, "epochs": 2, "verbose": 0})
    return callback


# ---------------------------------------------------------------- ProgressReporter


def reporter(events, n_train=10, batch_size=4, steps=3, interval=0.0, epochs=2):
    hp = HParams(batch_size=batch_size, epochs=epochs)
    return attach(cb.ProgressReporter(events.append, hp, n_train, 5, steps, interval), tiny_model(), steps)


def test_progress_turns_keras_running_means_into_each_batchs_own_value():
    """10 images in batches of 4, 4, 2 with real losses 1, 2, 4: Keras's size-weighted running
    means are 1, 1.5, 2; the reporter must give back 1, 2, 4 (and the same for accuracy)."""
    events = []
    rep = reporter(events)
    rep.on_train_begin()
    rep.on_epoch_begin(0)
    for batch, (loss, acc) in enumerate([(1.0, 0.5), (1.5, 0.625), (2.0, 0.6)]):
        rep.on_train_batch_end(batch, {"loss": loss, "accuracy": acc})
    assert events[0] == {"kind": "start", "epochs": 2, "batches_per_epoch": 3, "n_train": 10, "n_val": 5}
    batches = [e for e in events if e["kind"] == "batch"]
    assert [b["loss"] for b in batches] == pytest.approx([1.0, 2.0, 4.0])
    assert [b["accuracy"] for b in batches] == pytest.approx([0.5, 0.75, 0.5])
    assert [(b["epoch"], b["batch"], b["step"]) for b in batches] == [(1, 1, 1), (1, 2, 2), (1, 3, 3)]
    assert all(b["lr"] == pytest.approx(0.01) for b in batches)


def test_progress_restarts_its_means_each_epoch_and_counts_steps_across_epochs():
    events = []
    rep = reporter(events)
    rep.on_train_begin()
    for epoch in range(2):
        rep.on_epoch_begin(epoch)
        for batch in range(3):
            rep.on_train_batch_end(batch, {"loss": 3.0 - epoch})  # constant within an epoch
        rep.on_epoch_end(epoch, {"loss": 3.0 - epoch, "val_loss": 2.5})
    batches = [e for e in events if e["kind"] == "batch"]
    assert [b["loss"] for b in batches] == pytest.approx([3, 3, 3, 2, 2, 2])
    assert [b["step"] for b in batches] == [1, 2, 3, 4, 5, 6]
    epochs = [e for e in events if e["kind"] == "epoch"]
    assert [(e["epoch"], e["loss"], e["val_loss"], e["accuracy"]) for e in epochs] == [
        (1, 3.0, 2.5, None),
        (2, 2.0, 2.5, None),
    ]


def test_progress_throttles_batch_points_but_never_drops_an_epochs_last_batch(clock):
    events = []
    rep = reporter(events, n_train=24, steps=6, interval=0.25)
    rep.on_train_begin()
    rep.on_epoch_begin(0)
    for batch, t in enumerate([100.0, 100.1, 100.2, 100.3, 100.4, 100.45]):
        clock.t = t
        rep.on_train_batch_end(batch, {"loss": 1.0})
    # 100.0 is sent; 100.1 and 100.2 are within 0.25 s of it; 100.3 is not; 100.4 is held back;
    # 100.45 is the epoch's last batch, sent whatever the throttle says.
    assert [e["batch"] for e in events if e["kind"] == "batch"] == [1, 4, 6]
    assert events[-1]["elapsed"] == pytest.approx(0.45)


def test_an_epoch_cut_short_is_no_epoch_but_its_held_back_last_point_is_sent(clock):
    events = []
    rep = reporter(events, n_train=24, steps=6, interval=10.0)
    rep.on_train_begin()
    rep.on_epoch_begin(0)
    for batch in range(3):  # a stop request after batch 3 of 6
        clock.t += 1.0 if batch == 0 else 0.1
        rep.on_train_batch_end(batch, {"loss": 1.0})
    rep.on_epoch_end(0, {"loss": 1.0})
    assert [(e["kind"], e.get("batch")) for e in events] == [("start", None), ("batch", 1), ("batch", 3)]
    rep.on_epoch_end(0, {"loss": 1.0})  # nothing held back any more: nothing sent twice
    assert len(events) == 3


def test_progress_without_a_listener_sends_nothing_and_does_not_fail():
    rep = attach(cb.ProgressReporter(None, HParams(batch_size=BATCH, epochs=2), N, 16, STEPS), tiny_model())
    rec = fit(rep.model, [rep])
    assert rec.batches == 2 * STEPS


def test_progress_in_a_real_fit_reports_every_batch_and_both_epochs():
    events = []
    model = tiny_model()
    rep = cb.ProgressReporter(events.append, HParams(batch_size=BATCH, epochs=2), N, 16, STEPS, interval=0.0)
    fit(model, [rep])
    kinds = [e["kind"] for e in events]
    assert kinds == ["start"] + (["batch"] * STEPS + ["epoch"]) * 2
    epochs = [e for e in events if e["kind"] == "epoch"]
    batches = [e for e in events if e["kind"] == "batch"]
    for epoch, own in zip(epochs, (batches[:STEPS], batches[STEPS:])):
        # equal batch sizes: the epoch's mean loss is the mean of the batches' own losses
        assert np.mean([b["loss"] for b in own]) == pytest.approx(epoch["loss"], rel=1e-4)
        assert 0 <= epoch["val_accuracy"] <= 1 and epoch["seconds"] >= 0


# ---------------------------------------------------------------- NaNGuard


def test_nan_guard_names_the_epoch_and_batch_and_stops_there():
    model = tiny_model()
    guard = attach(cb.NaNGuard(), model)
    guard.on_epoch_begin(1)
    guard.on_train_batch_end(0, {"loss": 0.7})
    assert guard.message is None and not model.stop_training
    guard.on_train_batch_end(1, {"loss": float("inf")})
    assert guard.message == "loss became NaN at epoch 2 batch 2; try a lower learning rate"
    assert model.stop_training


def test_nan_guard_in_a_real_fit_stops_after_the_first_bad_batch_without_validating():
    x, y = tiny_data()
    y = y.astype("float32")
    y[:BATCH] = np.inf  # a regression target of inf: the first batch's loss is inf
    model = tiny_model(units=1, activation=None, loss="mse")
    guard = cb.NaNGuard()
    rec = fit(model, [guard], epochs=3, x=x, y=y)
    assert guard.message == "loss became NaN at epoch 1 batch 1; try a lower learning rate"
    assert rec.batches == 1 and rec.validations == 0
    assert "_should_eval" not in model.__dict__  # the next fit validates again


# ---------------------------------------------------------------- StopRequest


def test_stop_request_stops_after_the_batch_that_asked_and_skips_validation():
    asked = []

    def should_stop():
        asked.append(1)
        return len(asked) == 3 + STEPS  # the third batch of the second epoch

    model = tiny_model()
    stop = cb.StopRequest(should_stop)
    rec = fit(model, [stop], epochs=5)
    assert stop.requested
    assert rec.batches == STEPS + 3 and len(asked) == STEPS + 3
    assert rec.validations == 1  # epoch 1's; none for the cut-short epoch 2
    assert "_should_eval" not in model.__dict__


def test_stop_request_is_not_asked_once_training_is_already_stopping():
    model = tiny_model()
    stop = attach(cb.StopRequest(lambda: pytest.fail("asked while already stopping")), model)
    model.stop_training = True
    stop.on_train_batch_end(0, {})
    assert not stop.requested


def test_a_run_nobody_stops_runs_all_its_epochs():
    stop = cb.StopRequest(lambda: False)
    rec = fit(tiny_model(), [stop], epochs=2)
    assert not stop.requested and rec.batches == 2 * STEPS and rec.validations == 2


# ---------------------------------------------------------------- BestWeights


def _finish_epoch(best, model, epoch, val_loss, fill, batches=STEPS):
    """One epoch of ``batches`` batches whose end leaves every weight equal to ``fill``."""
    best.on_epoch_begin(epoch)
    for b in range(batches):
        best.on_train_batch_end(b, {})
    model.set_weights([np.full(w.shape, fill, "float32") for w in model.get_weights()])
    best.on_epoch_end(epoch, {"loss": 1.0, "accuracy": 0.5, "val_loss": val_loss, "val_accuracy": 0.6})


def test_best_weights_keeps_the_lowest_validation_loss_epoch_and_every_epochs_row():
    model = tiny_model()
    best = attach(cb.BestWeights(), model)
    for epoch, (val_loss, fill) in enumerate([(0.5, 1.0), (0.3, 2.0), (0.4, 3.0), (float("nan"), 4.0)]):
        _finish_epoch(best, model, epoch, val_loss, fill)
    best.on_train_end()
    assert best.best_epoch == 2 and best.best_loss == pytest.approx(0.3)
    assert all(np.all(w == 2.0) for w in best.weights)  # epoch 2's weights, not the last ones
    assert [h["epoch"] for h in best.history] == [1, 2, 3, 4]  # a NaN epoch is history, never best
    assert best.history[0] == pytest.approx(
        {
            "epoch": 1,
            "loss": 1.0,
            "accuracy": 0.5,
            "val_loss": 0.5,
            "val_accuracy": 0.6,
            "lr": 0.01,
            "seconds": best.history[0]["seconds"],
        }
    )


def test_an_epoch_cut_short_is_neither_history_nor_the_best_even_with_a_lower_loss():
    model = tiny_model()
    best = attach(cb.BestWeights(), model)
    _finish_epoch(best, model, 0, 0.5, 1.0)
    _finish_epoch(best, model, 1, 0.1, 2.0, batches=STEPS - 1)
    assert best.best_epoch == 1 and [h["epoch"] for h in best.history] == [1]
    assert all(np.all(w == 1.0) for w in best.weights)


def test_a_run_stopped_before_any_epoch_keeps_its_current_weights():
    model = tiny_model()
    best = attach(cb.BestWeights(), model)
    best.on_epoch_begin(0)
    best.on_train_batch_end(0, {})
    best.on_train_end()
    assert best.best_epoch is None and best.history == []
    assert all(np.array_equal(a, b) for a, b in zip(best.weights, model.get_weights()))


def test_best_weights_in_a_real_fit_records_each_epoch_and_its_validation_loss():
    model = tiny_model(lr=0.05)
    best = cb.BestWeights()
    fit(model, [best], epochs=3)
    losses = [h["val_loss"] for h in best.history]
    assert [h["epoch"] for h in best.history] == [1, 2, 3]
    assert best.best_epoch == 1 + int(np.argmin(losses)) and best.best_loss == pytest.approx(min(losses))
    assert len(best.weights) == len(model.get_weights())


# ---------------------------------------------------------------- WeightHistograms


def test_histograms_cover_every_kernel_before_training_and_after_each_epoch():
    events = []
    model = tiny_model()
    x, y = tiny_data()
    hist = cb.WeightHistograms(events.append, x[:8], y[:8], keras.losses.get(model.loss), bins=7)
    fit(model, [hist], epochs=2, x=x, y=y)
    assert [e["epoch"] for e in events] == [0, 1, 2] and {e["kind"] for e in events} == {"histograms"}
    for event in events:
        assert [(layer["layer"], layer["shape"]) for layer in event["layers"]] == [("hidden", [4, 5]), ("out", [5, 3])]
        for layer in event["layers"]:
            n = int(np.prod(layer["shape"]))
            for kind in ("weights", "gradients"):
                assert len(layer[kind]["edges"]) == 8 and sum(layer[kind]["counts"]) == n
    # the weights moved between epoch 0 and epoch 2 (so each histogram is taken afresh)
    assert events[0]["layers"][0]["weights"] != events[2]["layers"][0]["weights"]


def test_histograms_of_a_one_unit_binary_model_take_flat_labels():
    events = []
    model = tiny_model(units=1, activation="sigmoid", loss="binary_crossentropy")
    x, y = tiny_data(classes=2)
    hist = cb.WeightHistograms(events.append, x[:8], y[:8].astype("float32"), keras.losses.get(model.loss))
    fit(model, [hist], epochs=1, x=x, y=y.astype("float32"))
    assert [e["kind"] for e in events] == ["histograms", "histograms"]
    assert all("gradients" in layer for layer in events[-1]["layers"])


def test_a_failing_histogram_is_reported_once_and_never_fails_the_run():
    events = []

    def broken_loss(y_true, y_pred):
        raise ValueError("no loss today")

    model = tiny_model()
    x, y = tiny_data()
    hist = cb.WeightHistograms(events.append, x[:8], y[:8], broken_loss)
    rec = fit(model, [hist], epochs=2, x=x, y=y)
    assert rec.batches == 2 * STEPS  # training went on
    assert len(events) == 1
    assert events[0]["kind"] == "histograms_off" and events[0]["epoch"] == 0
    assert "ValueError: no loss today" in events[0]["message"]


def test_no_listener_no_histograms():
    hist = cb.WeightHistograms(None, *tiny_data(), loss=keras.losses.get("sparse_categorical_crossentropy"))
    rec = fit(tiny_model(), [hist], epochs=1)
    assert rec.batches == STEPS and hist._grads is None  # never even compiled the probe pass

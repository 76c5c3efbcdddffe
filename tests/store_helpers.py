"""What the run-store tests share."""

from fmnist_core.data.tasks import get_task
from fmnist_core.modeling.models import normalize_spec
from fmnist_core.modeling.training import HParams


def queue_run(store, name="r", task="multiclass", preset="linear", **hp):
    return store.create_run(name, get_task(task), normalize_spec(preset), HParams(**hp))

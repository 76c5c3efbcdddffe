"""Data: the Fashion-MNIST loader and splits (``fashion_mnist``), tasks as label maps (``tasks``)
and turning any image into a Fashion-MNIST-like one (``imaging``).
Imports only ``fmnist_core.schema`` (its settings) from the core.
"""

# The loader's API stays reachable as ``fmnist_core.data.load_fashion_mnist`` etc. (README, Makefile).
from fmnist_core.data.fashion_mnist import (  # noqa: F401
    CLASS_NAMES,
    N_CLASSES,
    DatasetNotFoundError,
    dataset_status,
    find_dataset,
    load_fashion_mnist,
    train_val_split,
)

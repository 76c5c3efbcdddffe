"""Schema: the one place where what is allowed is written down, as pydantic models: the
hyperparameters (``hparams``), model specs (``spec``), model names (``names``) and the
``FMNIST_*`` environment settings (``settings``); ``messages`` turns a pydantic error into one line.
Imports nothing from the rest of ``fmnist_core``: every other package may import it.
"""

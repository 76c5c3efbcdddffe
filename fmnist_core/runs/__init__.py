"""Runs: the run store (``store``, ``schema``), the job API (``jobs``) on its executors
(``executors``, ``ray_executor``), worker slots (``slots``), boundary checks (``checks``) and sweep
plans (``sweeps``), the worker process (``worker``) and the train-and-save step it runs (``runner``).
Imports ``modeling``, ``data`` and ``fmnist_core.schema``; never ``cli``, ``studies`` or ``insight``.
"""

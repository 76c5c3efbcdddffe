"""Runs: the run store (``store``, ``schema``), the job queue and its executors (``jobs``), the
worker process (``worker``) and the train-and-save step it runs (``runner``).
Imports ``modeling`` and ``data``; never ``cli``, ``studies`` or ``insight``.
"""

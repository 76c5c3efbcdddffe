"""Modeling: architectures and presets, training and its callbacks, the LR finder, evaluation,
saving and loading models, inference and time estimates.
Imports ``fmnist_core.data`` and ``fmnist_core.schema`` only.
"""

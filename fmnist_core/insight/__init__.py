"""Insight: looking inside data and models: saliency and feature maps (``explain``), dataset
statistics and embeddings (``explore``), and the Plotly figures (``figures``, ``training_figures``, ``tuning_figures``).
Imports ``modeling``, ``data`` and ``schema``; never ``runs``, ``studies`` or ``cli``.
"""

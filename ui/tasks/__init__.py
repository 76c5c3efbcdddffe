"""Work that runs off a page's script run, shared by every session of the server.

``registry``: the task registry itself (threads, progress, results, bounds; no Streamlit).
``widgets``: the server-wide registries and the Streamlit views of a task (progress, error, result).
``predictions``, ``lr_sweeps``, ``model_warmup``: the registries' users (a model's stored predictions,
the LR Finder's sweeps and warm models, Classify's model load).
"""

"""Streamlit helpers for the study pages: Few-shot's panels (its task, methods, results and k-shot curve)."""

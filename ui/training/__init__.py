"""Streamlit helpers for training runs: the live view and its HTTP routes, run widgets and admin, fit hints, the cluster panel, exports."""

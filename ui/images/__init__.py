"""Streamlit helpers for images: galleries, the drawing canvas, Classify's view and links, the conv inspector and projector, Plotly components."""

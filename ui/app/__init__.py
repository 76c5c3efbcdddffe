"""Streamlit helpers for the app's frame and session: page list and sidebar, sign-in, hand-offs between pages, the model picker, layout and inert text, what this computer measured."""

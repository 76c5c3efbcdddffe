"""Fashion-MNIST Lab: the entry point.

    streamlit run streamlit_app.py        (or: make app)

Builds the navigation from the files in pages/ (grouped Learn / Build / Results / Use /
Studies; a page appears once its file exists), draws the shared sidebar (dataset status,
selected model) and runs the chosen page. No TensorFlow here: the pages that need a
model import it themselves.
"""
import streamlit as st

from ui import frame, identity

st.set_page_config(page_title="Fashion-MNIST Lab", page_icon=":material/checkroom:", layout="wide")
identity.gate()  # served to a network: sign in first (local: nothing)
sections = frame.navigation_pages()
missing = frame.missing_page(sections)  # read before st.navigation falls back to Home
page = st.navigation(sections)
frame.sidebar()
if missing:
    frame.page_not_found(missing)
else:
    page.run()
frame.prewarm_trainer()   # after the page: a warm worker for the next Train, never in the way of a render

"""Fashion-MNIST Lab: the entry point.

    streamlit run streamlit_app.py        (or: make app)

Builds the navigation from the files in pages/ (grouped Learn / Build / Results / Use /
Studies; a page appears once its file exists), draws the shared sidebar (dataset status,
selected model) and runs the chosen page. No TensorFlow here: the pages that need a
model import it themselves.
"""
import streamlit as st

from ui import frame

st.set_page_config(page_title="Fashion-MNIST Lab", page_icon=":material/checkroom:", layout="wide")
page = st.navigation(frame.navigation_pages())
frame.sidebar()
page.run()

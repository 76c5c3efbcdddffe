"""Fashion-MNIST Lab: the entry point.

    streamlit run streamlit_app.py        (or: make app)

Run as the app's script (``__name__ == "__main__"``, once per page view): builds the navigation
from the files in pages/ (grouped Learn / Build / Results / Use / Studies; a page appears once
its file exists), draws the shared sidebar (dataset status, selected model) and runs the chosen
page. No TensorFlow here: the pages that need a model import it themselves.

Imported by ``streamlit run`` (which finds ``app`` below): the server, ``st.App`` over this same
script plus the live view's route (``ui.training.live_feed``), so watching a run costs no reruns.
"""

import streamlit as st

if __name__ == "__main__":
    from ui.app import frame, identity, streamlit_compat

    streamlit_compat.keep_keras_session()  # here too: tests run this script without the server's import
    st.set_page_config(page_title="Fashion-MNIST Lab", page_icon=":material/checkroom:", layout="wide")
    from fmnist_core.schema.settings import SettingsError, settings

    try:
        settings()
    except SettingsError as exc:  # a bad FMNIST_* variable: one line, and no page runs on it
        st.error(f"{exc}; fix it and restart the app.", icon=":material/error:")
        st.stop()
    identity.gate()  # served to a network: sign in first (local: nothing)
    sections = frame.navigation_pages()
    missing = frame.missing_page(sections)  # read before st.navigation falls back to Home
    page = st.navigation(sections)
    frame.sidebar()
    if missing:
        frame.page_not_found(missing)
    else:
        page.run()
    frame.prewarm_trainer()  # after the page: a warm worker for the next Train, never in the way of a render
else:
    from pathlib import Path

    from ui.app import streamlit_compat
    from ui.training.live_feed import routes

    # Before any session: a fresh server's first request for /dataset goes through this script too,
    # not Streamlit's old pages/-directory mode (see ui/app/streamlit_compat.py).
    streamlit_compat.route_through_entry_point(Path(__file__).resolve().parent / "pages" / "home.py")
    streamlit_compat.keep_keras_session()

    app = st.App(__file__, routes=routes())

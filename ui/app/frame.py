"""The app's frame: the page list, links between pages and the shared sidebar."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from fmnist_core.data import fashion_mnist as fdata
from ui.app import streamlit_compat
from ui.app.catalog import model_picker

ROOT = Path(__file__).resolve().parents[2]


# (section, file, title, icon, one-line description). A page is listed only when its file
# exists, so the app keeps working while pages are being written.
PAGES = [
    ("Learn", "pages/home.py", "Home", ":material/home:", "What the lab is, the data and the models at a glance."),
    (
        "Learn",
        "pages/dataset.py",
        "Dataset",
        ":material/photo_library:",
        "Browse the 70,000 images by class; counts, mean images, histograms, PCA and t-SNE maps.",
    ),
    (
        "Build",
        "pages/build_train.py",
        "Build & Train",
        ":material/construction:",
        "Stack layers or pick a preset, set hyperparameters and watch it train live.",
    ),
    (
        "Build",
        "pages/lr_finder.py",
        "LR Finder",
        ":material/query_stats:",
        "Sweep the learning rate over a short run and pick a good one from the loss curve.",
    ),
    (
        "Results",
        "pages/evaluate.py",
        "Evaluate",
        ":material/fact_check:",
        "Accuracy, confusion matrix, per-class scores, top losses and feature maps of a saved model.",
    ),
    (
        "Results",
        "pages/compare_runs.py",
        "Compare runs",
        ":material/compare_arrows:",
        "Overlay training curves and hyperparameters of several runs.",
    ),
    (
        "Use",
        "pages/classify.py",
        "Classify",
        ":material/draw:",
        "Draw, upload or photograph a garment; see each preprocessing step, the prediction and a saliency map.",
    ),
    (
        "Studies",
        "pages/binary_study.py",
        "Binary vs 10-class",
        ":material/call_split:",
        "Is a dedicated binary model better than a binarized 10-class one?",
    ),
    (
        "Studies",
        "pages/few_shot.py",
        "Few-shot",
        ":material/filter_1:",
        "How accuracy grows with 1, 5, 10 ... examples per class.",
    ),
]


def available_pages() -> list[tuple]:
    return [p for p in PAGES if (ROOT / p[1]).is_file()]


def navigation_pages() -> dict[str, list]:
    """{section: [st.Page, ...]} for ``st.navigation``, Home first and default."""
    sections: dict[str, list] = {}
    for section, path, title, icon, _ in available_pages():
        sections.setdefault(section, []).append(st.Page(path, title=title, icon=icon, default=path == "pages/home.py"))
    return sections


def missing_page(sections: dict[str, list]) -> str | None:
    """The page name the browser's URL asked for when the navigation has no such page, else None.

    For an unknown URL path Streamlit silently runs the default page (Home), so a mistyped address
    looks like a broken link to Home.
    """
    name = streamlit_compat.requested_page_name()
    if not name:
        return None
    known = {page.url_path for pages in sections.values() for page in pages}
    return None if name in known else name


def page_not_found(name: str) -> None:
    """A page for a mistyped address: says so, shows the address as plain text, links every page."""
    st.title("Page not found")
    st.error("There is no page at this address:", icon=":material/link_off:")
    st.code("/" + name, language=None)  # the user's own text: shown literally, never as Markdown
    st.markdown("These are the pages of the lab:")
    for _, path, title, icon, blurb in available_pages():
        page_link(path, title, icon, help=blurb)


def prewarm_trainer() -> None:
    """Have a training worker import TensorFlow in the background (unless one is alive), whatever
    page is open: by the time someone presses Train it is warm, and the first point shows ~2 s later
    instead of ~6 (a fresh worker spends ~3.3 s importing). It waits ``jobs.prewarm_seconds()``
    for a run, then exits. Called after the page has run, so it never delays a first render."""
    from fmnist_core.runs import jobs
    from fmnist_core.runs.store import StoreError
    from ui.training.run_widgets import open_store

    if jobs.prewarm_seconds() <= 0:
        return
    try:
        jobs.prewarm(open_store())
    except (StoreError, OSError, ValueError):
        pass  # the pages that use the store say what is wrong with it; this is only a head start


def page_link(path: str, label: str | None = None, icon: str | None = None, help: str | None = None) -> None:
    """st.page_link to a page of the navigation; a plain caption when the page is absent."""
    entry = next((p for p in PAGES if p[1] == path), None)
    label = label or (entry[2] if entry else path)
    if not (ROOT / path).is_file():
        st.caption(f"{label} (not available yet)")
        return
    try:
        st.page_link(path, label=label, icon=icon or (entry[3] if entry else None), help=help)
    except (st.errors.StreamlitAPIException, KeyError):  # page run on its own, outside the navigation
        st.caption(f"{label}: {path}")


def go_to(page: str, **state) -> None:
    """Set session state and switch page; when the page is not in the navigation (a page run on its own,
    as in tests) show a note instead of failing."""
    for key, value in state.items():
        st.session_state[key] = value
    try:
        st.switch_page(page)
    except st.errors.StreamlitAPIException:
        st.info(f"Open {page} from the navigation to continue.")


def sidebar() -> None:
    """Dataset status and the model selector, shown on every page."""
    with st.sidebar:
        status = fdata.dataset_status()
        if status["found"]:
            st.success("Fashion-MNIST found", icon=":material/check_circle:")
            st.caption(f"in `{status['folder']}`")
        else:
            st.error(
                f"Fashion-MNIST not found. Run `{status['fix']}` in the project folder, or set "
                "`FMNIST_DATA_DIR` to a folder with the four IDX .gz files.",
                icon=":material/error:",
            )
        model_picker(
            "_sidebar_model",
            "Selected model",
            help="The model the Evaluate and Classify pages start with.",
            compact=True,
        )

"""Few-shot's first step: the task, either a built-in one (flats vs heels, shoe types) or the user's
own classes from uploads and Fashion-MNIST training indices. Returns the data and a key for its results.
"""

import hashlib

import numpy as np
import streamlit as st

from fmnist_core.data import fashion_mnist as fdata
from fmnist_core.studies import fewshot_data as fd
from ui.app.text import plain
from ui.images import tiles

TASKS = {
    "flats-heels": "Flats vs heels",
    "flats-heels-val": "Flats vs heels: 216 validation boots",
    "shoe-types": "Shoe types",
    "own": "Your images",
}
UPLOAD_TYPES = ["png", "jpg", "jpeg", "webp", "gif", "bmp"]

ss = st.session_state


@st.cache_resource(show_spinner="Loading the task's images…")
def builtin_task(name: str) -> fd.FewShotData:
    return fd.builtin(name)


def train_split():
    return fdata.load_fashion_mnist()[0]


def task_panel() -> tuple[str, fd.FewShotData, str, int | None]:
    """(task kind, its data, a key naming that data, images per class drawn per seed or None)."""
    task_kind = st.segmented_control(
        "Task", list(TASKS), format_func=TASKS.get, default="flats-heels", required=True, key="fs_task"
    )
    if task_kind in ("flats-heels", "flats-heels-val"):
        return task_kind, _boots(task_kind), task_kind, None
    if task_kind == "shoe-types":
        data, shots = _shoe_types()
        return task_kind, data, "shoe-types", shots
    data, data_key = _own_images()
    return task_kind, data, data_key, None


def _boots(task_kind) -> fd.FewShotData:
    data = builtin_task(task_kind)
    st.caption(data.description)
    left, right = st.columns([1, 4])
    with left:
        tiles.gallery(data.x_pool, [f"train: {data.classes[c]}" for c in data.y_pool], ncols=2, factor=3)
    with right:
        tiles.gallery(data.x_test[:40], [data.classes[c] for c in data.y_test[:40]], ncols=10, factor=2)
        if len(data.y_test) > 40:
            st.caption(f"The first 40 of the {len(data.y_test)} test boots.")
    return data


def _shoe_types() -> tuple[fd.FewShotData, int]:
    data = builtin_task("shoe-types")
    st.caption(data.description + " The default backbone is the shoes-vs-rest model, which never saw these labels.")
    shots = st.select_slider("Training images per class (k)", [1, 2, 3, 5, 10, 20, 50], value=5, key="fs_shots")
    x_show, y_show = data.draw(shots, 0)
    tiles.gallery(x_show[:30], [data.classes[c] for c in y_show[:30]], ncols=10, factor=2)
    st.caption(
        f"Draw 1 of {shots} per class (each seed draws its own); tested on all {len(data.y_test):,} "
        "test images of these classes."
    )
    return data, shots


def _class_images(name, picks, problems) -> list:
    """One class's column: its uploads and picked training indices, as 28x28 images."""
    st.markdown(f"**{plain(name)}**")  # class names are user text: plain, never Markdown
    files = st.file_uploader(
        f"Images of {plain(name)}", type=UPLOAD_TYPES, accept_multiple_files=True, key=f"fs_up_{name}"
    )
    text = st.text_input(
        f"Fashion-MNIST training indices for {plain(name)}",
        ", ".join(str(i) for i in picks.get(name, [])),
        key=f"fs_idx_{name}",
    )
    imgs = []
    for f in files or []:
        try:
            imgs.append(fd.image_to_fmnist(f.getvalue()))
        except ValueError as exc:
            problems.append(f"{f.name}: {exc}")
    for tok in text.replace(";", ",").split(","):
        tok = tok.strip()
        if tok and (not tok.isdigit() or int(tok) >= 60000):
            problems.append(f"{name}: {tok!r} is not a training index (0-59999)")
        elif tok:
            imgs.append(train_split()[0][int(tok)])
    st.caption(f"{len(imgs)} image(s)")
    return imgs


def _browser() -> None:
    with st.expander("Browse Fashion-MNIST training images to pick from"):
        b1, b2 = st.columns(2)
        src = b1.selectbox("Class", fdata.CLASS_NAMES, index=9, key="fs_browse_class")
        page = b2.number_input("Page", 0, 249, 0, key="fs_browse_page")
        idx = np.flatnonzero(train_split()[1] == fdata.CLASS_NAMES.index(src))[page * 24 : (page + 1) * 24]
        tiles.gallery(train_split()[0][idx], [f"#{i}" for i in idx], ncols=12, factor=2)


def _own_images() -> tuple[fd.FewShotData, str]:
    st.markdown(
        "Name two or more classes and give each some images: **upload** them (any photo goes through the "
        "same preprocessing as the Classify page; a 28×28 image on a dark background is used as it is) "
        "and/or **pick** Fashion-MNIST training images by index (browse them below)."
    )
    names = [
        n.strip()
        for n in st.text_input("Class names, comma-separated", "flats, heels", key="fs_own_names").split(",")
        if n.strip()
    ]
    picks = ss.get("fewshot_picks") or {}  # {class name: [training index, ...]}, e.g. from the dataset page
    per_class, problems = {}, []
    for col, name in zip(st.columns(max(1, len(names))), names):
        with col:
            per_class[name] = _class_images(name, picks, problems)
    for p in problems:
        st.warning(plain(p))  # file and class names inside: plain text
    _browser()
    if len(names) < 2 or len(set(names)) != len(names):
        st.info("Name at least two different classes.")
        st.stop()
    counts = [len(per_class[n]) for n in names]
    if min(counts) < 2:
        st.info("Give every class at least 2 images: some train the model, the rest test it.")
        st.stop()
    k_max = min(counts) - 1
    shots_own = st.slider(
        "Training images per class (the rest test it)", 1, k_max, max(1, min(5, min(counts) // 2)), key="fs_own_k"
    )
    xtr, ytr, xte, yte = [], [], [], []
    for c, n in enumerate(names):
        xtr += per_class[n][:shots_own]
        ytr += [c] * shots_own
        xte += per_class[n][shots_own:]
        yte += [c] * (len(per_class[n]) - shots_own)
    data = fd.from_arrays(
        "your images",
        names,
        np.stack(xtr),
        ytr,
        np.stack(xte),
        yte,
        f"Your images: {shots_own} per class to train on, {len(yte)} to test.",
    )
    data_key = (
        "own-"
        + hashlib.sha1(
            np.ascontiguousarray(np.concatenate([data.x_pool, data.x_test])).tobytes()
            + repr((names, shots_own)).encode()
        ).hexdigest()[:16]
    )
    st.caption(data.description)
    return data, data_key

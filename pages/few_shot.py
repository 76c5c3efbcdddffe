"""Few-shot: teach a pre-trained network new shoe classes from a handful of images.

Four methods on the same draws (frozen backbone + new head, full fine-tune, nearest class
mean, from scratch), two backbones, seeds, a k-shot curve, and the user's own images. All
logic is in ``fmnist_core.studies.fewshot``; backbone features are cached there, so a run
takes seconds. Results are kept per settings for every session (``_results``).
"""
import hashlib
from collections import OrderedDict

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from fmnist_core.data import fashion_mnist as fdata
from fmnist_core.insight import figures
from fmnist_core.studies import fewshot as fs
from fmnist_core.studies import fewshot_data as fd
from ui import catalog, tiles
from ui.text import plain

TASKS = {"flats-heels": "Flats vs heels", "shoe-types": "Shoe types", "own": "Your images"}
METHOD_HELP = {"frozen": "backbone fixed, a new softmax head trained on its features (the earlier project's way)",
               "finetune": "that head first, then the whole network at a low learning rate, BatchNorm frozen",
               "prototype": "nearest class mean of the features (Euclidean): no training at all",
               "scratch": "the same architecture from random weights, trained on the few images only"}
COLORS = {"frozen": "#1f77b4", "finetune": "#ff7f0e", "prototype": "#2ca02c", "scratch": "#d62728"}
UPLOAD_TYPES = ["png", "jpg", "jpeg", "webp", "gif", "bmp"]

st.title("Few-shot")
st.markdown(
    "Can a network that already knows shoes learn a **new distinction from one picture per class**? The earlier "
    "project took its shoes-vs-rest network, retrained the last layer on **1 flat-soled and 1 heeled ankle boot**, "
    "and scored about 95% on 20 test boots. Here four methods run on the same images, over several seeds, "
    "with either backbone, and a k-shot curve shows how accuracy grows with more examples.")
if not fdata.dataset_status()["found"]:
    st.error("Fashion-MNIST is not installed. Run `make data` in the project folder, then reload.")
    st.stop()
ss = st.session_state
for key in ("fewshot_result", "fewshot_curve"):
    ss.pop(key, None)  # set again below when this run shows results


@st.cache_resource(show_spinner=False)
def _results() -> OrderedDict:
    """Results by settings, shared by all sessions (a fitted model is not picklable: no st.cache_data)."""
    return OrderedDict()


def cached(key, compute):
    store = _results()
    if key not in store:
        store[key] = compute()
        while len(store) > 48:
            store.popitem(last=False)
    store.move_to_end(key)
    return store[key]


@st.cache_resource(show_spinner="Loading the task's images…")
def builtin_task(name: str) -> fd.FewShotData:
    return fd.builtin(name)


def train_split():
    return fdata.load_fashion_mnist()[0]


# ---------------------------------------------------------------- 1. the task

st.subheader("1. The task")
task_kind = st.segmented_control("Task", list(TASKS), format_func=TASKS.get, default="flats-heels", required=True,
                                 key="fs_task")
shots = None
if task_kind == "flats-heels":
    data = builtin_task("flats-heels")
    st.caption(data.description)
    left, right = st.columns([1, 4])
    with left:
        tiles.gallery(data.x_pool, [f"train: {data.classes[c]}" for c in data.y_pool], ncols=2, factor=3)
    with right:
        tiles.gallery(data.x_test, [data.classes[c] for c in data.y_test], ncols=10, factor=2)
    data_key = "flats-heels"
elif task_kind == "shoe-types":
    data = builtin_task("shoe-types")
    st.caption(data.description + " The default backbone is the shoes-vs-rest model, which never saw these labels.")
    shots = st.select_slider("Training images per class (k)", [1, 2, 3, 5, 10, 20, 50], value=5, key="fs_shots")
    x_show, y_show = data.draw(shots, 0)
    tiles.gallery(x_show[:30], [data.classes[c] for c in y_show[:30]], ncols=10, factor=2)
    st.caption(f"Draw 1 of {shots} per class (each seed draws its own); tested on all {len(data.y_test):,} "
               "test images of these classes.")
    data_key = "shoe-types"
else:
    st.markdown("Name two or more classes and give each some images: **upload** them (any photo goes through the "
                "same preprocessing as the Classify page; a 28×28 image on a dark background is used as it is) "
                "and/or **pick** Fashion-MNIST training images by index (browse them below).")
    names = [n.strip() for n in st.text_input("Class names, comma-separated", "flats, heels",
                                              key="fs_own_names").split(",") if n.strip()]
    picks = ss.get("fewshot_picks") or {}  # {class name: [training index, ...]}, e.g. from the dataset page
    per_class, problems = {}, []
    for col, name in zip(st.columns(max(1, len(names))), names):
        with col:
            st.markdown(f"**{plain(name)}**")   # class names are user text: plain, never Markdown
            files = st.file_uploader(f"Images of {plain(name)}", type=UPLOAD_TYPES, accept_multiple_files=True,
                                     key=f"fs_up_{name}")
            text = st.text_input(f"Fashion-MNIST training indices for {plain(name)}",
                                 ", ".join(str(i) for i in picks.get(name, [])), key=f"fs_idx_{name}")
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
            per_class[name] = imgs
            st.caption(f"{len(imgs)} image(s)")
    for p in problems:
        st.warning(plain(p))   # file and class names inside: plain text
    with st.expander("Browse Fashion-MNIST training images to pick from"):
        b1, b2 = st.columns(2)
        src = b1.selectbox("Class", fdata.CLASS_NAMES, index=9, key="fs_browse_class")
        page = b2.number_input("Page", 0, 249, 0, key="fs_browse_page")
        idx = np.flatnonzero(train_split()[1] == fdata.CLASS_NAMES.index(src))[page * 24:(page + 1) * 24]
        tiles.gallery(train_split()[0][idx], [f"#{i}" for i in idx], ncols=12, factor=2)
    if len(names) < 2 or len(set(names)) != len(names):
        st.info("Name at least two different classes.")
        st.stop()
    counts = [len(per_class[n]) for n in names]
    if min(counts) < 2:
        st.info("Give every class at least 2 images: some train the model, the rest test it.")
        st.stop()
    k_max = min(counts) - 1
    shots_own = st.slider("Training images per class (the rest test it)", 1, k_max, min(k_max, 5), key="fs_own_k")
    xtr, ytr, xte, yte = [], [], [], []
    for c, n in enumerate(names):
        xtr += per_class[n][:shots_own]
        ytr += [c] * shots_own
        xte += per_class[n][shots_own:]
        yte += [c] * (len(per_class[n]) - shots_own)
    data = fd.from_arrays("your images", names, np.stack(xtr), ytr, np.stack(xte), yte,
                          f"Your images: {shots_own} per class to train on, {len(yte)} to test.")
    data_key = "own-" + hashlib.sha1(np.ascontiguousarray(np.concatenate([data.x_pool, data.x_test])).tobytes()
                                     + repr((names, shots_own)).encode()).hexdigest()[:16]
    st.caption(data.description)

# ---------------------------------------------------------------- 2. the methods

st.subheader("2. Four ways to learn from a few images")
infos = {m["name"]: m for m in catalog.models_info()}
default_bb = fs.default_backbone(data)
options = [b for b in fs.BACKBONES if b in infos] + [n for n in infos if n not in fs.BACKBONES]
if not options:
    st.info("No saved model to start from. Run `make models` for the shipped ones.")
    st.stop()
c1, c2, c3 = st.columns([2, 3, 1])
backbone = c1.selectbox("Backbone (pre-trained network)", options,
                        index=options.index(default_bb) if default_bb in options else 0, key=f"fs_backbone_{task_kind}",
                        format_func=lambda n: catalog.model_label(infos[n]),
                        help="Its features (the layer before its output) are what the methods build on.")
methods = c2.multiselect("Methods", fs.METHODS, default=list(fs.METHODS), key="fs_methods",
                         help="; ".join(f"{m}: {h}" for m, h in METHOD_HELP.items()))
seeds = c3.number_input("Seeds", 1, 10, 3, key="fs_seeds", help="Each seed: its own draw of the training images "
                        "(where there is a choice) and its own random start.")
for m in methods:
    st.caption(f"**{m}**: {METHOD_HELP[m]}.")
if not methods:
    st.info("Pick at least one method.")
    st.stop()

key = (data_key, tuple(methods), backbone, catalog.model_mtime(backbone), int(seeds), shots)
bar = st.progress(0.0, text="Fitting…") if key not in _results() else None


def _compare():
    return fs.compare_methods(data, methods, backbone, int(seeds), shots,
                              on_progress=lambda f, msg: bar.progress(min(1.0, f), text=msg) if bar else None)


try:
    results = cached(key, _compare)
except ValueError as exc:
    st.error(plain(exc))
    st.stop()
if bar:
    bar.empty()
ss["fewshot_result"] = {m: {k: r[k] for k in ("accuracy", "sd", "accuracies", "n_test", "n_train", "backbone")}
                        for m, r in results.items()}

# ---------------------------------------------------------------- 3. results

st.subheader("3. Results")
best = max(results, key=lambda m: results[m]["accuracy"])
any_r = results[best]
tied = [m for m in results if abs(results[m]["accuracy"] - any_r["accuracy"]) < 1e-9]
st.markdown(f"On **{any_r['n_test']}** test images, with **{any_r['n_train']}** training images per seed, backbone "
            f"`{backbone}`: " + (f"**{best}** does best" if len(tied) == 1 else
                                 " and ".join(f"**{m}**" for m in tied) + " tie for best")
            + f", {100 * any_r['accuracy']:.1f}%"
            + (f" ± {100 * any_r['sd']:.1f} over {int(seeds)} seeds." if int(seeds) > 1 else " (one seed).")
            + f" Chance is {100 / len(data.classes):.0f}%.")
steady = [m for m, r in results.items() if len(r["accuracies"]) > 1 and r["sd"] == 0]
if steady and data.fixed:
    st.caption(f"{', '.join(steady)}: the same score for every seed. This task has one fixed training set, and "
               "these methods start from the class means instead of random weights, so a seed changes nothing.")
fig = go.Figure()
for m, r in results.items():
    fig.add_trace(go.Bar(x=[m], y=[100 * r["accuracy"]], marker_color=COLORS[m], name=m, showlegend=False,
                         error_y=dict(type="data", array=[0 if np.isnan(r["sd"]) else 100 * r["sd"]])))
    fig.add_trace(go.Scatter(x=[m] * len(r["accuracies"]), y=[100 * a for a in r["accuracies"]], mode="markers",
                             marker=dict(color="black", size=6), showlegend=False, hovertemplate="%{y:.1f}%"))
fig.add_hline(y=100 / len(data.classes), line_dash="dot", annotation_text="chance")
fig.update_layout(yaxis_title="test accuracy (%)", yaxis_range=[0, 100], height=320, margin=dict(l=10, r=10, t=10, b=10))
left, right = st.columns([3, 2])
left.plotly_chart(fig, key="fs_bars")
left.caption("Bars: mean over seeds, whiskers ± 1 sd, dots: each seed.")
right.dataframe(pd.DataFrame([{"method": m, "accuracy": f"{100 * r['accuracy']:.1f}%",
                               "sd": "–" if np.isnan(r["sd"]) else f"{100 * r['sd']:.1f}",
                               "per seed": ", ".join(f"{100 * a:.0f}" for a in r["accuracies"])}
                              for m, r in results.items()]), hide_index=True)
shown = right.selectbox("Look closer at", list(results), index=list(results).index(best), key="fs_closer")
r = results[shown]
cm_col, img_col = st.columns([2, 3]) if len(data.y_test) <= 60 else (st.container(), None)
cm_col.plotly_chart(figures.confusion_matrix_figure(r["confusion_matrix"], data.classes, title=f"{shown}, seed 1"),
                    key="fs_cm")
if img_col is not None:
    pred = r["predictions"]
    caps = [f"{data.classes[t]}" + ("" if p == t else f" → {data.classes[p]}") for t, p in zip(data.y_test, pred)]
    with img_col:
        st.caption(f"The test images, as {shown} (seed 1) labels them: green right, red wrong.")
        tiles.gallery(data.x_test, caps, colors=["green" if p == t else "red" for t, p in zip(data.y_test, pred)],
                       ncols=7, factor=2)

with st.expander("Try the fitted model on your own picture"):
    up = st.file_uploader("A picture of one of the classes", type=UPLOAD_TYPES, key="fs_try")
    if up is not None:
        try:
            img = fd.image_to_fmnist(up.getvalue())
        except ValueError as exc:
            st.error(plain(exc))
        else:
            probs = r["model"].predict_proba(img[None])[0]
            t1, t2 = st.columns([1, 3])
            t1.image(tiles.enlarge(img, 4), caption="as the model sees it")
            t2.markdown(f"**{data.classes[int(probs.argmax())]}** ({probs.max():.0%}) by **{shown}**, seed 1")
            t2.dataframe(pd.DataFrame({"class": data.classes, "probability": probs}), hide_index=True)

# ---------------------------------------------------------------- 4. the k-shot curve

st.subheader("4. Accuracy vs number of examples (k-shot curve)")
if data.max_shots() < 2:
    st.caption(f"{TASKS[task_kind]} has only {data.max_shots()} training image per class, so there is no curve to "
               "draw: switch to Shoe types, or give your classes more images.")
    st.stop()
k1, k2 = st.columns([3, 1])
ks_all = [k for k in (1, 2, 5, 10, 20, 50) if k <= data.max_shots()]
ks = k1.multiselect("k (images per class)", ks_all, default=[k for k in fs.KS if k in ks_all], key="fs_ks")
draws = k2.number_input("Draws per k", 1, 10, 3, key="fs_draws")
curve_key = ("curve", data_key, tuple(methods), backbone, catalog.model_mtime(backbone), tuple(sorted(ks)), int(draws))
if curve_key not in _results():
    n_fits = len(ks) * len(methods) * int(draws)
    if not st.button(f"Compute the curve ({n_fits} fits)", icon=":material/show_chart:", key="fs_curve_go",
                     disabled=not ks):
        st.caption("Each point is the mean over draws of k random training images per class, the same draws for "
                   "every method. Fine-tune and scratch take a few seconds per fit; the others well under one.")
        st.stop()
    cbar = st.progress(0.0, text="Fitting…")
    rows = cached(curve_key, lambda: fs.kshot_curve(data, methods, sorted(ks), int(draws), backbone,
                                                    on_progress=lambda f, msg: cbar.progress(min(1.0, f), text=msg)))
    cbar.empty()
rows = _results()[curve_key]
ss["fewshot_curve"] = rows
fig = go.Figure()
for m in methods:
    pts = [row for row in rows if row["method"] == m]
    fig.add_trace(go.Scatter(x=[p["k"] for p in pts], y=[100 * p["mean"] for p in pts], mode="lines+markers",
                             name=m, line_color=COLORS[m],
                             error_y=dict(type="data", array=[0 if np.isnan(p["sd"]) else 100 * p["sd"] for p in pts])))
fig.update_layout(xaxis_type="log", xaxis_title="k (images per class, log scale)", yaxis_title="test accuracy (%)",
                  height=380, margin=dict(l=10, r=10, t=10, b=10), legend_orientation="h")
st.plotly_chart(fig, key="fs_curve")
st.caption(f"Mean ± 1 sd over {int(draws)} draws; backbone `{backbone}`; {len(data.y_test):,} test images.")

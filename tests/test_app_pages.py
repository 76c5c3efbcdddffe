"""AppTest (streamlit.testing.v1) for the app frame and the Home, Dataset, Evaluate and
Classify pages: each renders without an exception, its main widgets exist and a main
interaction works. Pages run through streamlit_app.py, as in the real app.

Charts and the drawing canvas are invisible to AppTest; tests/browser/ covers those.
"""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from shared_models import shipped_model
from streamlit.testing.v1 import AppTest

from fmnist_core.data import fashion_mnist as data
from fmnist_core.data import imaging
from fmnist_core.modeling import inference
from ui import catalog, frame

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 120  # seconds per script run: the first Evaluate run scores 10,000 images on 2 shared cores




def app(page: str | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=TIMEOUT)
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def _tiff_bytes() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (20, 20), 128).save(buf, "TIFF")
    return buf.getvalue()


@pytest.fixture(scope="module")
def test_set():
    return data.load_fashion_mnist()[1]


# ---------------------------------------------------------------- frame and home

def test_navigation_lists_exactly_the_page_files_that_exist():
    files = {p.relative_to(ROOT).as_posix() for p in (ROOT / "pages").glob("*.py") if not p.name.startswith("_")}
    listed = {path for _, path, *_ in frame.available_pages()}
    assert listed == files & {path for _, path, *_ in frame.PAGES}
    assert {"pages/home.py", "pages/dataset.py", "pages/evaluate.py", "pages/classify.py"} <= listed
    sections = frame.navigation_pages()
    assert list(sections)[0] == "Learn"


def test_home_renders_with_sidebar_status_models_and_links(fmnist_home):
    at = app()
    assert at.title[0].value == "Fashion-MNIST Lab"
    assert at.sidebar.success and "Fashion-MNIST found" in at.sidebar.success[0].value
    names = [m["name"] for m in catalog.models_info()]
    if names:
        assert len(at.sidebar.selectbox(key="_sidebar_model").options) == len(names)
        table = at.dataframe[0].value
        assert list(table["model"]) == names
        assert at.session_state["selected_model"] in names
    else:
        assert any("No saved model" in i.value for i in at.info)
        assert any("No saved model" in i.value for i in at.sidebar.info)
    assert any("Quick classify" in m.value for m in at.markdown)


def test_home_shows_the_exact_fix_when_the_data_is_missing(fmnist_home, tmp_path, monkeypatch):
    monkeypatch.setattr(data, "candidate_dirs", lambda: [tmp_path / "nowhere"])
    at = app()
    assert any("not found" in e.value for e in at.error)
    assert any(c.value == "make data" for c in at.code)
    assert any("not found" in e.value for e in at.sidebar.error)


def test_sidebar_choice_is_shared_with_pages(fmnist_home):
    name = shipped_model()
    others = [m["name"] for m in catalog.models_info() if m["name"] != name]
    at = app()
    assert at.session_state["selected_model"] == name          # fmnist_cnn is the default
    if others:
        at.sidebar.selectbox(key="_sidebar_model").set_value(others[0]).run()
        assert at.session_state["selected_model"] == others[0]


def test_home_and_dataset_do_not_import_tensorflow(fmnist_home):
    """Run both pages (all Dataset tabs) in a fresh interpreter and look at sys.modules."""
    code = textwrap.dedent(f"""
        import sys
        from streamlit.testing.v1 import AppTest
        at = AppTest.from_file({str(ROOT / "streamlit_app.py")!r}, default_timeout=120)
        at.run()
        at.switch_page("pages/dataset.py"); at.run()
        for tab in ("Class statistics", "Embedding"):
            at.session_state["ds_tab"] = tab
            at.run()
        assert not at.exception, [e.value for e in at.exception]
        print("TF", "tensorflow" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-3000:]
    assert "TF False" in out.stdout


# ---------------------------------------------------------------- dataset

def test_dataset_browse_change_class_next_and_split(fmnist_home, test_set):
    at = app("pages/dataset.py")
    shown = at.session_state["dataset_shown"]
    assert shown["split"] == "test" and len(shown["indices"]) == 24   # test first: no split to compute
    assert at.selectbox(key="ds_class").value == "All classes"
    at.button_group(key="ds_split").set_value("train").run()
    ok(at)

    at.selectbox(key="ds_class").set_value("Trouser").run()
    ok(at)
    xtr, ytr = data.train_val_split(0.1, 42)[0]
    shown = at.session_state["dataset_shown"]
    assert shown["class"] == "Trouser" and (ytr[shown["indices"]] == 1).all()
    grid = next(m.value for m in at.markdown if "fmnist-gallery" in m.value)
    assert grid.count("<img") == 24 and f"#{shown['indices'][0]} · Trouser" in grid

    at.button(key="ds_next").click().run()
    first = np.flatnonzero(ytr == 1)[:24].tolist()
    assert at.session_state["dataset_shown"]["indices"] == first
    at.button(key="ds_next").click().run()
    assert at.session_state["dataset_shown"]["indices"] == np.flatnonzero(ytr == 1)[24:48].tolist()

    at.button_group(key="ds_split").set_value("test").run()
    ok(at)
    _, yt = test_set
    shown = at.session_state["dataset_shown"]
    assert shown["split"] == "test" and (yt[shown["indices"]] == 1).all()
    assert at.session_state["ds_mode"] == "random"                      # a new split starts over


def test_dataset_statistics_and_embedding_tabs(fmnist_home):
    at = app("pages/dataset.py")
    at.session_state["ds_tab"] = "Class statistics"
    ok(at.run())
    counts = at.dataframe[0].value
    assert counts.loc["Trouser", "train"] == 5400 and counts.loc["Total", "test"] == 10000
    assert at.multiselect(key="ds_hist_classes").value == ["Trouser", "Shirt", "Sandal", "Bag"]
    at.toggle(key="ds_hist_skip").set_value(False).run()
    ok(at)
    at.session_state["ds_tab"] = "Embedding"
    ok(at.run())
    assert at.radio(key="ds_embed_method").value == "pca"
    at.radio(key="ds_embed_method").set_value("tsne").run()
    assert any("Compute" in b.label for b in at.button)       # t-SNE waits for the button
    assert any("t-SNE takes several seconds" in i.value for i in at.info)


# ---------------------------------------------------------------- evaluate

def test_evaluate_shows_the_shipped_models_accuracy_and_pair_images(fmnist_home, test_set):
    name = shipped_model()
    at = app("pages/evaluate.py")
    at.selectbox(key="eval_model").set_value(name).run()
    ok(at)
    x, y = test_set
    probs = inference.split_probabilities(name, "test")[0]    # cached by the page's own run
    pred = probs.argmax(1)
    accuracy = float((pred == y).mean())                      # counted here from the probabilities
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Accuracy"] == f"{accuracy:.2%}"
    assert metrics["Images"] == "10,000"
    assert accuracy >= 0.93
    assert at.session_state["evaluate_result"]["accuracy"] == pytest.approx(accuracy)

    at.selectbox(key="eval_true").set_value("Shirt")
    at.selectbox(key="eval_pred").set_value("T-shirt/top").run()
    ok(at)
    assert at.session_state["evaluate_pair"]["count"] == int(((y == 6) & (pred == 0)).sum())

    at.toggle(key="eval_norm").set_value(True).run()
    ok(at)
    for tab in ("Per class", "Gallery", "Feature maps"):
        at.session_state["eval_tab"] = tab
        ok(at.run())
    assert sum("maps of" in m.value for m in at.markdown) == 4  # fmnist_net: four Conv2D layers


def test_evaluate_binarized_and_validation(fmnist_home):
    name = shipped_model()
    at = app("pages/evaluate.py")
    at.selectbox(key="eval_model").set_value(name).run()
    at.selectbox(key=f"eval_task_{name}").set_value("shoes").run()
    ok(at)
    result = inference.evaluate_saved(name, "test", "shoes")
    assert {m.label: m.value for m in at.metric}["Accuracy"] == f"{result['accuracy']:.2%}"
    at.radio(key="eval_split").set_value("validation").run()
    ok(at)
    assert {m.label: m.value for m in at.metric}["Images"] == "6,000"


# ---------------------------------------------------------------- classify

def test_classify_uploaded_png_of_a_test_image_gets_the_right_top1(fmnist_home, test_set):
    name = shipped_model()
    x, y = test_set
    probs = inference.predict_images(name, x[:50])
    i = next(k for k in range(50) if probs[k].argmax() == y[k] and probs[k].max() > 0.95 and y[k] != 9)
    at = app("pages/classify.py")
    at.selectbox(key="cls_model").set_value(name).run()
    at.button_group(key="cls_input").set_value("Upload").run()
    ok(at)
    at.file_uploader(key="cls_upload").set_value(("item.png", imaging.to_png_bytes(x[i]), "image/png")).run()
    ok(at)
    top1 = {m.label: m.value for m in at.metric}["Top-1"]
    assert top1 == data.CLASS_NAMES[y[i]]
    assert at.session_state["classify_result"]["image"] == x[i].tolist()   # unchanged by preprocessing

    # An inverted JPEG on a white page: preprocessing undoes it and the answer stays.
    import io

    from PIL import Image
    page = Image.new("L", (300, 240), 255)
    page.paste(Image.fromarray(255 - x[i]).resize((112, 112)), (90, 60))
    buf = io.BytesIO()
    page.convert("RGB").save(buf, "JPEG", quality=90)
    at.file_uploader(key="cls_upload").set_value(("photo.jpg", buf.getvalue(), "image/jpeg")).run()
    ok(at)
    assert {m.label: m.value for m in at.metric}["Top-1"] == data.CLASS_NAMES[y[i]]

    at.radio(key="cls_saliency").set_value("Gradient").run()
    ok(at)
    at.toggle(key="cls_compare").set_value(True).run()
    ok(at)
    rows = at.session_state["classify_all"]
    assert {r["model"] for r in rows} == {m["name"] for m in catalog.models_info()}


@pytest.mark.parametrize("filename, payload, message", [
    ("empty.png", b"", "empty"),
    ("notes.png", b"just some text", "not an image"),
    ("cut.png", imaging.to_png_bytes(np.random.default_rng(0).integers(0, 255, (300, 300), dtype=np.uint8))[:300],
     "truncated|damaged"),
    ("huge.png", b"\x89PNG\r\n\x1a\n" + bytes(21 * 1024 * 1024), "limit is 21 MB|limit is 20 MB"),
    ("renamed.png", _tiff_bytes(), "TIFF images are not supported"),  # a TIFF saved under a .png name
])
def test_classify_bad_upload_shows_a_message_and_the_page_keeps_working(fmnist_home, filename, payload, message):
    import re

    if not catalog.models_info():
        pytest.skip("no saved model to classify with")
    at = app("pages/classify.py")
    at.button_group(key="cls_input").set_value("Upload").run()
    at.file_uploader(key="cls_upload").set_value((filename, payload, "image/png")).run()
    ok(at)
    assert any(re.search(message, e.value) for e in at.error), [e.value for e in at.error]
    at.button_group(key="cls_input").set_value("Test image").run()   # the page still works
    ok(at)
    assert "Top-1" in {m.label for m in at.metric}


def test_classify_animated_16bit_and_exif_uploads_are_handled(fmnist_home, test_set):
    import io

    from PIL import Image

    name = shipped_model()
    x, y = test_set
    i = 1
    frames = [Image.fromarray(x[i]), Image.fromarray(x[i + 1])]
    gif = io.BytesIO()
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:], duration=100)
    png16 = io.BytesIO()
    Image.fromarray(x[i].astype(np.uint16) * 257).save(png16, "PNG")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated; the viewer must turn it 90 degrees clockwise
    photo = Image.fromarray(255 - x[i]).resize((140, 140)).rotate(90, expand=True)
    jpg = io.BytesIO()
    photo.convert("RGB").save(jpg, "JPEG", quality=92, exif=exif.tobytes())
    at = app("pages/classify.py")
    at.selectbox(key="cls_model").set_value(name).run()
    at.button_group(key="cls_input").set_value("Upload").run()
    cases = (("anim.gif", gif.getvalue(), "first frame"), ("deep.png", png16.getvalue(), "16-bit"),
             ("phone.jpg", jpg.getvalue(), "EXIF"))
    for filename, payload, note in cases:
        at.file_uploader(key="cls_upload").set_value((filename, payload, "image/png")).run()
        ok(at)
        assert any(note in m.value for m in at.info), (filename, [m.value for m in at.info])
        assert {m.label: m.value for m in at.metric}["Top-1"] == data.CLASS_NAMES[y[i]], filename


def test_classify_test_image_mode_and_random(fmnist_home, test_set):
    if not catalog.models_info():
        pytest.skip("no saved model to classify with")
    at = app("pages/classify.py")
    at.button_group(key="cls_input").set_value("Test image").run()
    ok(at)
    assert at.session_state["classify_result"]["image"] == test_set[0][0].tolist()
    at.button(key="cls_test_random").click().run()
    ok(at)
    i = at.session_state["cls_test_index"]
    assert at.session_state["classify_result"]["image"] == test_set[0][i].tolist()

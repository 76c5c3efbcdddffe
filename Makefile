# Fashion-MNIST Lab. Every target installs what it needs first and is safe to re-run.
SHELL := /bin/bash
PY := .venv/bin/python
PIP := .venv/bin/pip
# The Python the venv is made from (3.11, 3.12 or 3.13): `make venv PYTHON=python3.13` picks another.
PYTHON ?= python3
STAMP := .venv/.requirements-installed
TEST_STAMP := .venv/.test-requirements-installed
DATA_DIR := /usr/share/datasets/fashion-mnist
PORT ?= 8501
# Only this machine by default; `make app HOST=0.0.0.0` serves a class (accounts required, see README).
HOST ?= 127.0.0.1

.PHONY: app test test-heavy data models venv test-requirements browser clean-runs help

help:
	@echo "make app     install what is missing, then start the app on http://localhost:$(PORT) (this machine only;"
	@echo "             make app HOST=0.0.0.0 serves a class, with sign-in: see README)"
	@echo "make test    install what is missing (the test tools too), then run the whole test suite"
	@echo "make venv    only the .venv with requirements.txt (PYTHON=python3.13 picks the Python)"
	@echo "make test-fast  the inner loop (<= 3 min): no browser, no cluster, no test that trains on more than a few thousand images"
	@echo "make data    install Fashion-MNIST (Debian's dataset-fashion-mnist, else the Keras download)"
	@echo "make models  train the shipped models into saved_models/ (skips those that exist)"

venv: $(STAMP)
$(STAMP): requirements.txt
	@# One sentence on a Python or platform that cannot install the pinned TensorFlow, before pip runs.
	@$(if $(wildcard $(PY)),$(PY),$(PYTHON)) -m fmnist_core.platform_check
	test -x $(PY) || $(PYTHON) -m venv .venv
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r requirements.txt
	touch $(STAMP)

# The test suite's tools (pytest, Playwright, Hypothesis), kept out of the app's requirements.
test-requirements: $(TEST_STAMP)
$(TEST_STAMP): $(STAMP) requirements-test.txt
	$(PIP) install -q -r requirements-test.txt
	touch $(TEST_STAMP)

# The dataset: apt where we can (root, or passwordless sudo), else Keras's own download into ~/.keras
# (load_fashion_mnist downloads when it finds no copy, as `python -m fmnist_core app` does).
data: venv
	@if $(PY) -c "from fmnist_core.data import find_dataset; import sys; sys.exit(find_dataset()[0] is None)"; then \
		echo "Fashion-MNIST found."; \
	elif command -v apt-get >/dev/null && { [ "$$(id -u)" = 0 ] || sudo -n true 2>/dev/null; }; then \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq dataset-fashion-mnist; \
	else \
		echo "No apt here: Keras downloads Fashion-MNIST (about 30 MB)."; \
	fi
	@$(PY) -c "from fmnist_core.data import load_fashion_mnist; (x,y),(xt,yt)=load_fashion_mnist(); print('Fashion-MNIST ok:', x.shape, xt.shape)"

# Chromium for the real-browser tests (Playwright's own download does not work offline).
browser:
	@if [ -x /usr/bin/chromium ]; then echo "Chromium found."; \
	elif command -v apt-get >/dev/null && { [ "$$(id -u)" = 0 ] || sudo -n true 2>/dev/null; }; then \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver; \
	else echo "Chromium missing: install it (apt-get install chromium) to run the browser tests."; fi

# The same command as on Windows (README): it checks the data once more, then starts Streamlit.
app: venv data
	$(PY) -m fmnist_core app --host $(HOST) --port $(PORT)

test: venv test-requirements data browser
	$(PY) -m pytest

# The inner loop: what `make test` runs, less the browser, cluster and slow tests (see pytest.ini's markers).
.PHONY: test-fast
test-fast: venv test-requirements data
	$(PY) -m pytest -m "not browser and not cluster and not slow and not heavy"

# Checks that train for minutes each (the LR-finder quality check on tinyvgg and fmnist_net).
test-heavy: venv test-requirements data
	$(PY) -m pytest -m heavy

# The shipped models, with fixed seeds. Each is trained only if missing (delete a model's files to retrain).
TRAIN := $(PY) -m fmnist_core train-here --seed 42
models: venv data saved_models/fmnist_cnn.keras saved_models/shoes_cnn.keras \
	saved_models/footwear_luggage_cnn.keras saved_models/footwear_luggage_transfer.keras
	FMNIST_HOME=saved_models $(PY) -m fmnist_core.modeling.inference
	$(PY) -m fmnist_core models

# fmnist_net's recipe (models.RECIPES["fmnist_net"]): precision auto (bfloat16 where this CPU runs it fast), batch 256, one-cycle 4e-3, flips; 20 epochs
# for the 10-class model, 3 for the footwear/luggage ones: with 6 they reached 99.85% validation by epoch 4,
# and `make models` took 21 min 19 s; with 3, 18 min 24 s (BENCHMARKS.md, "Shipping recipe, second trial").
NET := --preset fmnist_net --precision auto --batch-size 256 --schedule onecycle --lr 0.004 --augment-flip
saved_models/fmnist_cnn.keras:
	FMNIST_SHIP=1 FMNIST_HOME=saved_models $(TRAIN) $(NET) --task multiclass --epochs 20 -mn fmnist_cnn --overwrite
saved_models/shoes_cnn.keras:
	FMNIST_SHIP=1 FMNIST_HOME=saved_models $(TRAIN) --preset shoe_cnn --task shoes --epochs 12 --schedule onecycle --lr 0.003 -mn shoes_cnn --overwrite
saved_models/footwear_luggage_cnn.keras:
	FMNIST_SHIP=1 FMNIST_HOME=saved_models $(TRAIN) $(NET) --task footwear_luggage --epochs 3 -mn footwear_luggage_cnn --overwrite
saved_models/footwear_luggage_transfer.keras: saved_models/fmnist_cnn.keras
	FMNIST_SHIP=1 FMNIST_HOME=saved_models $(TRAIN) $(NET) --task footwear_luggage --epochs 3 --init-from fmnist_cnn -mn footwear_luggage_transfer --overwrite

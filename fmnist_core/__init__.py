"""Fashion-MNIST Lab core, in layers that import one way: ``cli`` -> ``runs``/``studies`` ->
``modeling``/``insight`` -> ``data``.

No Streamlit here: the app's pages, the CLI (``python -m fmnist_core``) and the tests all
call these same functions. TensorFlow is imported lazily, only by the modules that train
or run models, so the data browser starts fast.
"""

import os

# TensorFlow's C++ start-up chatter (oneDNN notices, CPU-feature lines) buries real output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

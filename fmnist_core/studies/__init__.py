"""The two studies the earlier student projects set out to answer, done reproducibly.

* ``binary_study``: a 10-class model binarized vs a binary model (from scratch, and with
  transfer), on the same test images, with McNemar tests and seed repeats (``replicates``);
  ``binary_report`` turns its result into tables and a verdict in words.
* ``fewshot``: few-shot fine-tuning on shoes (flats vs heels, shoe sub-types, the user's own
  images) with four methods (frozen, finetune, prototype, scratch) and a k-shot curve.

``stats`` holds the statistics both use. No Streamlit here; the pages only show these results.
Imports ``runs``, ``modeling`` and ``data``; never ``cli``.
"""

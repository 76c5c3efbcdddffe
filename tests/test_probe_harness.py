"""A fast sample of the probe harness that writes RELIABILITY.md (benchmarks/probe_reliability.py).

The harness itself runs outside ``make test`` (4-10 minutes); this keeps its case list whole
and a few in-process cases of each kind passing, so the table cannot silently rot.
"""

import pytest

from benchmarks.probe_reliability import all_cases, run_case

SAMPLE = [
    "cli.train--seed='-1'",
    "cli.train--seed=4294967295.ok",
    "cli.stop='1180591620717411303424'",
    "cli.train-mn='x\\n'",
    "cli.train--lr='inf'",
    "cli.export-mn=damaged",
    "cli.compare-binary--binary=nope",
    "upload.flat-red",
    "upload.png-grey-2bit",
    "upload.png-truncated-50pct",
    "meta.name=5",
    "meta.legacy=[]",
    "meta.owner=null.ok",
    "keras.truncated-50pct",
    "keras.fifo",
    "store.zero-bytes.runs",
    "store.garbage.store-reset--yes",
    "store.no-runs-table.store-reset--yes",
    "delete.dotdot-model-name",
    "serve.plain.markdown-image",
]


@pytest.fixture(scope="module")
def cases():
    return {c.id: c for c in all_cases()}


def test_the_harness_covers_the_issues_377_classes_and_more(cases):
    assert len(cases) >= 377  # all_cases refuses duplicate ids
    groups = {c.group for c in cases.values()}
    for kind in (
        "CLI: train",
        "Environment",
        "Uploads",
        "Model metadata",
        "Damaged model files",
        "Damaged run stores",
        "Kills",
        "Races",
        "Deletion paths",
        "workers",
        "Read-only home and full disk",
        "Serving",
        "Pages",
    ):
        assert any(kind in g for g in groups), kind


@pytest.mark.parametrize("cid", SAMPLE)
def test_a_sample_of_probes_passes(cases, cid):
    out = run_case(cases[cid])
    assert out.ok and not out.traceback and not out.data_lost, (cid, out.actual)

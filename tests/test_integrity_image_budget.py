"""Memory budgets before decoding: a 1x40,000,000 8-bit PNG (78 KB of zlib-compressed zeros) is
refused in one line before Pillow allocates it (a row pointer per row made it +300 MB), and the
Classify path's peak memory stays within the decoded-size cap."""

import os
import subprocess
import sys
import textwrap

import pytest

from fmnist_core.data import imaging
from fmnist_core.modeling.saving import REPO_ROOT

PROBE = textwrap.dedent("""
    import resource, struct, sys, zlib
    from fmnist_core.data import imaging

    def png(w, h):
        def chunk(kind, body):
            return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        raw = zlib.compress(b"\\x00" * ((w + 1) * h), 9)   # each row: filter byte 0, then w zeros
        return (b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                + chunk(b"IDAT", raw) + chunk(b"IEND", b""))

    data = png(int(sys.argv[1]), int(sys.argv[2]))
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:   # the Classify path: decode the upload, then put it into Fashion-MNIST form
        imaging.to_fashion_mnist(imaging.load_upload(data))
        outcome = "accepted"
    except imaging.ImageInputError as exc:
        outcome = str(exc)
    peak_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
    print(len(data), round(peak_mb), outcome, sep="\\t")
""")
BUDGET_MB = imaging.MAX_DECODED_BYTES / 2**20 + 50  # the decoded-size cap, and room for the small copies


def _probe(w, h):
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(w), str(h)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    size, peak_mb, outcome = out.stdout.strip().split("\t")
    return int(size), int(peak_mb), outcome


@pytest.mark.parametrize("w,h", [(1, 40_000_000), (2, 20_000_000)])
def test_a_tall_thin_png_is_refused_before_it_is_decoded(w, h):
    size, peak_mb, outcome = _probe(w, h)
    assert size < 100_000  # a small file: the cost is all in the decoding
    assert "MB" in outcome and "\n" not in outcome and "Resize" in outcome, outcome
    assert peak_mb < BUDGET_MB, f"+{peak_mb} MB over the {BUDGET_MB:.0f} MB budget"


def test_a_wide_png_of_the_same_pixels_stays_within_the_budget():
    _, peak_mb, _ = _probe(40_000_000, 1)
    assert peak_mb < BUDGET_MB, f"+{peak_mb} MB over the {BUDGET_MB:.0f} MB budget"


class _Upload:
    """What an upload widget hands over: a size, and bytes only when read."""

    def __init__(self, size):
        self.size, self.read_called = size, False

    def read(self, *_):
        self.read_called = True
        return b"\0" * self.size


def test_an_upload_too_big_is_refused_before_it_is_read():
    upload = _Upload(imaging.MAX_UPLOAD_BYTES + 1)
    with pytest.raises(imaging.ImageInputError, match="limit"):
        imaging.load_upload(upload)
    assert not upload.read_called

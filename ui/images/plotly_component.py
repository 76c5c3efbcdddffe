"""Custom Streamlit components drawn with Plotly: a folder holding the component's page and a copy
of the installed plotly.js, declared once per server process.

st.plotly_chart reports box/lasso selections of scatter points only; hovers (the image map) and a
parallel-coordinates chart's brushed axis ranges need the chart's own Plotly events, so these
charts are small components (the streamlit-component-lib protocol spoken directly, no build step).
"""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

import plotly
import streamlit.components.v1 as components

from fmnist_core.modeling.saving import home_dir


@functools.cache
def component_dir(name: str, page: str) -> Path:
    """``<home>/cache/<name>``: the page (``page``, an index.html) and plotly.min.js, refreshed when they change."""
    target = home_dir() / "cache" / name
    target.mkdir(parents=True, exist_ok=True)
    js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not (target / "plotly.min.js").is_file() or (target / "plotly.min.js").stat().st_size != js.stat().st_size:
        shutil.copyfile(js, target / "plotly.min.js")
    shutil.copyfile(page, target / "index.html")
    return target


@functools.cache
def declare(name: str, page: str):
    """The component ``name`` whose page is the file ``page`` (an absolute path, as a string)."""
    return components.declare_component(name, path=str(component_dir(name, page)))


PARCOORDS_PAGE = Path(__file__).with_name("parcoords_component") / "index.html"


def parallel_coordinates(fig, ids: list[int], *, key: str) -> tuple[list[int], int]:
    """Draw a one-trace Parcoords ``fig`` whose lines are the runs ``ids`` (in order); returns
    (the ids inside every brushed axis range, how many axes are brushed). Nothing brushed: ([], 0)."""
    value = declare("fmnist_parcoords", str(PARCOORDS_PAGE))(
        figure=fig.to_json(), ids=[int(i) for i in ids], key=key, default=None
    )
    value = value if isinstance(value, dict) else {}
    known = {int(i) for i in ids}
    brushed = value.get("brushed")
    picked = [int(i) for i in value.get("ids") or [] if isinstance(i, int) and int(i) in known]
    return picked, int(brushed) if isinstance(brushed, int) and brushed >= 0 else 0

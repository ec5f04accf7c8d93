"""Matplotlib figures as small, deterministic SVG fragments to inline in an HTML page.

matplotlib is the `report` extra: it is imported here, lazily, and nowhere else. Figures are made
with `matplotlib.figure.Figure` (no pyplot, no global figure state). The SVG has no date, ids
derived from a fixed salt, ids prefixed per plot (several plots share one page), and path
coordinates rounded to 0.01 pt, so the same data gives the same bytes.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from llmsim.diagnostics import UserError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# Colours of the report, also used by its CSS (tab10, matplotlib's default cycle).
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf")

_RC = {
    "svg.fonttype": "none",  # text stays text: smaller, selectable, rendered by the browser
    "svg.hashsalt": "llmsim",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "lines.linewidth": 1.4,
    "path.simplify": True,
}
_ID = re.compile(r'\sid="([^"]+)"')
_REF = re.compile(r'(?:xlink:href="#|url\(#)([^")]+)')
_PATH_D = re.compile(r' d="([^"]*)"')
_FLOAT = re.compile(r"-?\d+\.\d{3,}")
_COORD = re.compile(r'\b(x|y|width|height)="(-?\d+\.\d{3,})"')
_PLOT_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def require_matplotlib() -> Any:
    """The matplotlib module, or a UserError saying how to install it."""
    try:
        import matplotlib
    except ImportError:
        raise UserError("HTML reports need matplotlib, which is not installed",
                        help='install the report extra: python -m pip install "llmsim[report]"') from None
    return matplotlib


@contextmanager
def figure(width_in: float, height_in: float) -> Iterator[Figure]:
    """A matplotlib Figure in the report's style."""
    mpl = require_matplotlib()
    from matplotlib.figure import Figure

    with mpl.rc_context(_RC):
        fig = Figure(figsize=(width_in, height_in), layout="constrained")
        yield fig


def to_svg(fig: Figure, plot_id: str) -> str:
    """The figure as an inline `<svg>` element whose ids are prefixed with `plot_id`."""
    if not _PLOT_ID.match(plot_id):
        raise ValueError(f"plot id {plot_id!r}: use lowercase letters, digits and dashes")
    mpl = require_matplotlib()
    buf = io.StringIO()
    with mpl.rc_context(_RC):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    return clean_svg(buf.getvalue(), plot_id)


def clean_svg(svg: str, plot_id: str) -> str:
    """Strip the XML prologue and metadata, keep (prefixed) only the ids that are referenced,
    round path coordinates, and let the SVG scale with the page."""
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg, count=1, flags=re.S)
    referenced = set(_REF.findall(svg))
    svg = _ID.sub(lambda m: f' id="{plot_id}-{m.group(1)}"' if m.group(1) in referenced else "", svg)
    svg = _REF.sub(lambda m: m.group(0)[: -len(m.group(1))] + f"{plot_id}-{m.group(1)}", svg)
    svg = _PATH_D.sub(lambda m: ' d="' + _FLOAT.sub(_round, m.group(1)) + '"', svg)
    svg = _COORD.sub(lambda m: f'{m.group(1)}="{_round(m, 2)}"', svg)
    svg = re.sub(r' transform="rotate\(-0 [^"]*\)"', "", svg)
    svg = re.sub(r'\s*font-family:[^;"]*;?', "", svg)  # the page's CSS sets the font
    svg = re.sub(r"\n\s+", "\n", svg)  # indentation between tags only: text sits on one line
    svg = re.sub(r'<svg ([^>]*?)width="[^"]*" height="[^"]*"',
                 rf'<svg \1role="img" aria-labelledby="{plot_id}-caption" class="plot-svg"', svg, count=1)
    return svg.strip()


def _round(m: re.Match[str], group: int = 0) -> str:
    text = f"{float(m.group(group)):.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text

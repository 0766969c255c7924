"""The one matplotlib style of every figure: Agg backend, Okabe-Ito colours, labelled axes, PDF + PNG.

Okabe & Ito (2008), "Color Universal Design": eight colours distinguishable under the common forms
of colour-vision deficiency. Series are told apart by colour *and* marker/line style, so a figure
also reads in greyscale.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import matplotlib
from matplotlib.rcsetup import cycler  # = matplotlib.cycler (the validating one); the stubs only declare this one

if os.environ.get("MPLBACKEND", "").lower() not in ("agg", "pdf", "svg"):
    matplotlib.use("Agg")  # no display needed (CI, workers, notebooks get PNGs via IPython.display)

import matplotlib.pyplot as plt  # noqa: E402

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType  # matplotlib >= 3.8 (only for the type checker)

__all__ = ["OKABE_ITO", "MARKERS", "LINESTYLES", "VERDICT_COLORS", "NORMALIZER_COLORS", "color", "marker",
           "apply_style", "new_figure", "save", "label_axes", "verdict_badge"]

#: Okabe-Ito palette (black first is skipped for data series; used for references/predictions)
OKABE_ITO = {
    "orange": "#E69F00", "sky_blue": "#56B4E9", "bluish_green": "#009E73", "yellow": "#F0E442",
    "blue": "#0072B2", "vermillion": "#D55E00", "reddish_purple": "#CC79A7", "black": "#000000",
}
_CYCLE = [OKABE_ITO[k] for k in ("blue", "orange", "bluish_green", "vermillion", "reddish_purple", "sky_blue",
                                 "yellow")]
MARKERS = ["o", "s", "^", "D", "v", "P", "X"]
LINESTYLES = ["-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)), (0, (1, 1))]
PREDICTION_COLOR = OKABE_ITO["black"]
VERDICT_COLORS = {"supported": OKABE_ITO["bluish_green"], "refuted": OKABE_ITO["vermillion"],
                  "inconclusive": OKABE_ITO["orange"]}
#: fixed colours for the normalizers so every figure uses the same one for e.g. "ib_layer"
NORMALIZER_COLORS = {
    "none": OKABE_ITO["black"], "identity": OKABE_ITO["black"],
    "layer": OKABE_ITO["blue"], "ln": OKABE_ITO["blue"], "layernorm": OKABE_ITO["blue"],
    "batch": OKABE_ITO["orange"], "bn": OKABE_ITO["orange"], "batchnorm": OKABE_ITO["orange"],
    "rms": OKABE_ITO["sky_blue"], "rmsnorm": OKABE_ITO["sky_blue"],
    "group": OKABE_ITO["reddish_purple"], "gn": OKABE_ITO["reddish_purple"],
    "ib": OKABE_ITO["vermillion"], "ibnorm": OKABE_ITO["vermillion"], "ib_layer": OKABE_ITO["vermillion"],
    "ib-ln": OKABE_ITO["vermillion"], "ib_rms": OKABE_ITO["bluish_green"], "ib-rms": OKABE_ITO["bluish_green"],
    "ib_batch": OKABE_ITO["yellow"], "ib-bn": OKABE_ITO["yellow"],
}
# yellow is too pale for markers and thin lines on white: IB-BN gets reddish purple
NORMALIZER_COLORS.update({"ib-ln": OKABE_ITO["vermillion"], "ib-bn": OKABE_ITO["reddish_purple"],
                          "ib_batch": OKABE_ITO["reddish_purple"]})


def color(i: int | str) -> str:
    """The i-th series colour, or the fixed colour of a normalizer name (falls back to a stable index)."""
    if isinstance(i, str):
        key = i.lower()
        if key in NORMALIZER_COLORS:
            return NORMALIZER_COLORS[key]
        return _CYCLE[sum(map(ord, key)) % len(_CYCLE)]
    return _CYCLE[i % len(_CYCLE)]


def marker(i: int) -> str:
    return MARKERS[i % len(MARKERS)]


def linestyle(i: int):
    return LINESTYLES[i % len(LINESTYLES)]


STYLE: dict[RcKeyType, Any] = {
    "figure.dpi": 100, "savefig.dpi": 150, "savefig.bbox": "tight", "figure.figsize": (5.2, 3.6),
    "font.size": 9, "axes.titlesize": 9.5, "axes.labelsize": 9, "legend.fontsize": 7.5,
    "xtick.labelsize": 8, "ytick.labelsize": 8, "axes.grid": True, "grid.alpha": 0.3, "grid.linewidth": 0.5,
    "axes.spines.top": False, "axes.spines.right": False, "lines.linewidth": 1.5, "lines.markersize": 4.5,
    "legend.frameon": False, "axes.prop_cycle": cycler(color=_CYCLE),
}


def apply_style() -> None:
    matplotlib.rcParams.update(STYLE)


def new_figure(ncols: int = 1, nrows: int = 1, width: float | None = None, height: float | None = None,
               **kw):
    """A styled figure and its axes (a single Axes when 1x1, else a 1-D array for one row)."""
    apply_style()
    w = width or (5.2 if ncols == 1 else 3.6 * ncols)
    h = height or 3.6 * nrows
    kw.setdefault("layout", "constrained")  # labels, titles and legends never overlap the next panel
    fig, axes = plt.subplots(nrows, ncols, figsize=(w, h), squeeze=True, **kw)
    return fig, axes


def log_axis(ax, which: str = "y") -> None:
    """Log scale with plain tick labels (``15``, not ``1.5 x 10^1``) when the range is narrow."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    getattr(ax, f"set_{which}scale")("log")
    axis = ax.yaxis if which == "y" else ax.xaxis
    lo, hi = (ax.get_ylim() if which == "y" else ax.get_xlim())
    if lo > 0 and hi / lo < 100:
        fmt = FuncFormatter(lambda v, _: f"{v:.3g}")
        axis.set_major_formatter(fmt)
        axis.set_minor_locator(LogLocator(subs=(2.0, 3.0, 5.0)))
        axis.set_minor_formatter(fmt)


def label_axes(ax, xlabel: str, ylabel: str, title: str | None = None) -> None:
    """Every axis gets a label with its unit, e.g. ``"depth L (layers)"``, ``"log Lip (nats)"``."""
    if not xlabel or not ylabel:
        raise ValueError("every figure axis needs a label (with units)")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)


def verdict_badge(ax, evidence) -> None:
    """The claim's computed verdict, small and coloured by verdict, under the right end of ``ax``'s x label."""
    v = evidence.verdict.value if hasattr(evidence.verdict, "value") else str(evidence.verdict)
    tiny = " (tiny scale: not evidence)" if getattr(evidence, "scale", "") == "tiny" else ""
    ax.annotate(f"{evidence.claim_id}: {v}{tiny}", xy=(1.0, 0.0), xycoords="axes fraction", xytext=(0, -30),
                textcoords="offset points", ha="right", va="top", fontsize=6.5, color=VERDICT_COLORS.get(v, "k"))


def formats_from_env() -> tuple[str, ...]:
    """``PAPER_FIGURES_FORMATS`` (e.g. ``png``; default ``png,pdf``): the smoke tests skip the PDFs."""
    fmts = tuple(f.strip().lower() for f in os.environ.get("PAPER_FIGURES_FORMATS", "png,pdf").split(",") if f.strip())
    bad = [f for f in fmts if f not in ("png", "pdf", "svg")]
    if bad or "png" not in fmts:
        raise ValueError(f"PAPER_FIGURES_FORMATS must list png and optionally pdf/svg, got {fmts}")
    return fmts


def save(fig, out_dir: str | os.PathLike, name: str, formats: Iterable[str] | None = None) -> list[Path]:
    """Save ``fig`` as ``out_dir/name.{png,pdf}``, close it, and return the paths (PNG first)."""
    formats = formats_from_env() if formats is None else tuple(formats)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in formats:
        p = out / f"{name}.{ext}"
        fig.savefig(p, metadata={"CreationDate": None} if ext == "pdf" else None)
        paths.append(p)
    plt.close(fig)
    return paths

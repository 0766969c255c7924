"""The paper's figures as pure functions of Evidence: no runner, no command line, nothing computed twice.

Every ``paper_figures/fig_<name>.py`` declares

* ``CLAIMS``: the claim ids it reads;
* ``READS``: ``{claim_id: ("series name", ...)}``, the :class:`~ibnorm_verify.verification.evidence.Series`
  it reads from each claim (checked against the series each claim declares by ``tests/test_contract.py``);
* ``CAPTION`` (and optionally ``SECTION``: the report section it belongs to, default its first claim;
  ``ANY_CLAIM = True``: it reads what every claim carries, such as validation rows, and is drawn for
  any run);
* ``make(evidence_by_id, out_dir) -> list[Path]``: draws the figure (PNG, and PDF unless
  ``PAPER_FIGURES_FORMATS=png``) from ``{claim_id: Evidence}``; raises
  :class:`~ibnorm_verify.paper_figures.base.FigureDataError` naming what is missing instead of drawing
  an empty figure.

Drawing the figures of a finished run is the application's job (``ibnorm-verify figures --results DIR
--out DIR``, or the end of every run); this package only draws. See ``docs/figures.md``.
"""
from __future__ import annotations

import importlib
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Iterable, Mapping, Sequence

from .base import FigureDataError, evidence_index

__all__ = ["FIGURES", "FigureDataError", "FigureRun", "figure_module", "claims_for", "figures_for", "reads",
           "section_of", "make_all", "evidence_index"]

#: the figure modules (suffix after ``fig_``), in the report's order
FIGURES = (
    "lipschitz_depth",        # log-Lipschitz vs depth, normalized and not, several gains
    "reduction_k",            # reduction vs K with the product-of-sigma prediction
    "phase_diagram",          # gain x K phase diagram
    "loss_smoothness",        # loss smoothness vs K
    "training_statistics",    # normalizer input variances and weight norms during training
    "bound_gap",              # capacity bound vs measured generalization gap
    "information_plane",      # information plane per normalizer
    "ib_lambda",              # IB value vs lambda
    "nuisance",               # nuisance suppression
    "accuracy",               # accuracy with CIs and lambda sensitivity
    "estimator_validation",   # every estimator's ground-truth rows
    "norm_jacobian",          # one normalizer's Jacobian norm vs |gamma|/sqrt(var+eps)
)


def figure_module(name: str) -> ModuleType:
    if name not in FIGURES:
        raise ValueError(f"unknown figure {name!r}; known: {', '.join(FIGURES)}")
    return importlib.import_module(f"{__name__}.fig_{name}")


def claims_for(names: Sequence[str] = FIGURES) -> list[str]:
    """The claim ids the given figures read (first-seen order, no duplicates)."""
    ids: list[str] = []
    for n in names:
        ids += [c for c in figure_module(n).CLAIMS if c not in ids]
    return ids


def figures_for(claim_ids: Iterable[str]) -> list[str]:
    """The figures that read at least one of ``claim_ids`` (in :data:`FIGURES` order); a figure with
    ``ANY_CLAIM = True`` (it reads what every claim carries, e.g. validation rows) whenever there is one."""
    have = set(claim_ids)
    return [n for n in FIGURES if have and (getattr(figure_module(n), "ANY_CLAIM", False)
                                            or set(figure_module(n).CLAIMS) & have)]


def reads(name: str) -> dict[str, tuple[str, ...]] | None:
    """The figure's ``READS`` declaration, or None for a figure that does not declare it yet."""
    r = getattr(figure_module(name), "READS", None)
    return None if r is None else {cid: tuple(series) for cid, series in r.items()}


def section_of(name: str) -> str:
    """The report section a figure belongs to: its ``SECTION``, else its first claim."""
    mod = figure_module(name)
    return getattr(mod, "SECTION", None) or mod.CLAIMS[0]


@dataclass
class FigureRun:
    """What :func:`make_all` did: ``made[name] = [png, pdf]``, ``failed[name] = reason``."""

    made: dict = field(default_factory=dict)
    failed: dict = field(default_factory=dict)

    def pngs(self) -> list[Path]:
        return [p for paths in self.made.values() for p in paths if Path(p).suffix == ".png"]

    def summary(self) -> str:
        lines = [f"made {len(self.made)} of {len(self.made) + len(self.failed)} figures"]
        lines += [f"  ok      {n}: {', '.join(str(p) for p in ps)}" for n, ps in self.made.items()]
        lines += [f"  MISSING {n}: {why}" for n, why in self.failed.items()]
        return "\n".join(lines)


def make_all(evidence_by_id: Mapping | Sequence, out_dir: str | Path, names: Sequence[str] | None = None,
             strict: bool = False) -> FigureRun:
    """Make every figure it can. A figure whose data is missing is recorded in ``failed`` with the
    reason (``strict=True`` re-raises instead); an unexpected error is recorded with its traceback tail."""
    evidence_by_id = evidence_index(evidence_by_id)
    run = FigureRun()
    for name in (FIGURES if names is None else names):
        mod = figure_module(name)
        try:
            run.made[name] = [Path(p) for p in mod.make(evidence_by_id, out_dir)]
        except FigureDataError as e:
            if strict:
                raise
            run.failed[name] = str(e)
        except Exception as e:  # a bug in one figure must not lose the others; it is reported
            if strict:
                raise
            run.failed[name] = f"{type(e).__name__}: {e} | " + traceback.format_exc(limit=3).replace("\n", " ")[-600:]
    return run

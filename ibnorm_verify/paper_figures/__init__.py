"""One script per figure; each reads the Evidence the claims produced (nothing is computed twice).

Every ``paper_figures/fig_<name>.py`` has ``CLAIMS`` (the claim ids it reads), ``CAPTION``,
``make(evidence_by_id, out_dir) -> list[Path]`` (PNG and PDF) and ``main()`` (``--results DIR`` reads a
cached ``results.json``; otherwise it runs its claims; ``--dry-run`` runs them at the tiny scale).
``python -m ibnorm_verify.paper_figures --all --out DIR`` makes all of them; see ``docs/figures.md``.
"""
from __future__ import annotations

import importlib
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Mapping, Sequence

from .base import FigureDataError, evidence_index

__all__ = ["FIGURES", "FigureDataError", "FigureRun", "figure_module", "claims_for", "make_all",
           "figures_for_claim", "evidence_index"]

#: the figure scripts, in the order of the issue's list (module suffix after ``fig_``)
FIGURES = (
    "lipschitz_depth",        # 1. log-Lipschitz vs depth, normalized and not, several gains
    "reduction_k",            # 2. reduction vs K with the product-of-sigma prediction
    "phase_diagram",          # 3. gain x K phase diagram
    "loss_smoothness",        # 4. loss smoothness vs K
    "training_statistics",    # 5. normalizer input variances and weight norms during training
    "bound_gap",              # 6. capacity bound vs measured generalization gap
    "information_plane",      # 7. information plane per normalizer
    "ib_lambda",              # 8. IB value vs lambda
    "nuisance",               # 9. nuisance suppression
    "accuracy",               # 10. accuracy with CIs and lambda sensitivity
    "estimator_validation",   # 11. estimated vs true MI (and Lipschitz ground truth)
    "norm_jacobian",          # 12. one normalizer's Jacobian norm vs |gamma|/sqrt(var+eps)
)


def figure_module(name: str) -> ModuleType:
    if name not in FIGURES:
        raise ValueError(f"unknown figure {name!r}; known: {', '.join(FIGURES)}")
    return importlib.import_module(f"{__name__}.fig_{name}")


def claims_for(names: Sequence[str] = FIGURES) -> list[str]:
    """The claim ids the given figures read (in registry order, no duplicates)."""
    ids: list[str] = []
    for n in names:
        ids += [c for c in figure_module(n).CLAIMS if c not in ids]
    try:
        from ibnorm_verify.verification.claims import CLAIM_IDS
    except ImportError:  # pragma: no cover
        return ids
    return [c for c in CLAIM_IDS if c in ids]


def figures_for_claim(claim_id: str) -> list[str]:
    """The figures drawn (mainly) from ``claim_id``: those whose first claim it is."""
    return [n for n in FIGURES if figure_module(n).CLAIMS[:1] == (claim_id,)]


@dataclass
class FigureRun:
    """What ``make_all`` did: ``made[name] = [png, pdf]``, ``failed[name] = reason``."""

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
        except Exception as e:  # a bug in a figure script must not lose the others; it is reported
            if strict:
                raise
            run.failed[name] = f"{type(e).__name__}: {e} | " + traceback.format_exc(limit=3).replace("\n", " ")[-600:]
    return run

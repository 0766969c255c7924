"""The one place where verdicts are decided: from statistics, never by hand.

A claim turns its measurements into :class:`~ibnorm_verify.verification.evidence.Check` objects with
the constructors below, and :func:`decide` combines them.

**One check.** :func:`check_value` is an equivalence test in the TOST sense (is the whole confidence
interval inside ``predicted +- tolerance``?), :func:`check_direction` a one-sided test (is the whole
interval above / below a threshold?). Each check gets its own decision (supported / refuted /
inconclusive, from the 95% interval) and the two one-sided p-values behind it: ``p_support`` (the test
whose rejection supports the prediction) and ``p_refute``. With the interval's own standard error
(``se``, ``dof``) the p-values are Student-t; without them, the standard error is read off each side
of the interval, so that ``p < alpha`` holds exactly when that side of the interval clears the
boundary. Each check also reports its minimum detectable effect (MDE) at the budget used:
``(z_{1-alpha} + z_{power}) * se`` for ``alpha = 0.025`` one-sided and power 0.8.

**A claim.** Let the *evidence* checks be those with ``role="evidence"``.

* *refuted* when some evidence check's ``p_refute``, Holm-adjusted over all the claim's evidence
  checks (Holm 1979, step-down), is at most ``ALPHA``, and every precondition and sanity check that
  applies to that check holds: the family-wise error of a refutation is controlled, however many
  checks a claim has, and an untrusted measurement refutes nothing;
* *supported* when every evidence check is supported on its own (an intersection-union test needs no
  multiplicity correction), every precondition holds and every sanity check holds;
* *inconclusive* otherwise, with the reason.

A failed precondition (the estimator did not pass its ground-truth validation, say) or a failed sanity
check (an identity of the setup that must hold by construction) makes the checks it applies to
untrusted: they can neither support nor refute. A guard without a ``cell`` applies to every check; a
guard with a cell applies to the checks whose cell contains its coordinates. Sanity checks are
reported, never counted as evidence.

**Regimes.** Checks carry ``cell`` coordinates; :func:`decide` applies the same rule within each cell
(with the claim-wide Holm adjustment) and returns a :class:`~ibnorm_verify.verification.evidence.RegimeMap`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

from scipy import stats

from .evidence import Check, CheckKind, CheckRole, RegimeCell, RegimeMap, ValidationRow, Verdict

__all__ = [
    "ALPHA", "POWER", "Verdict", "Check", "check_value", "check_direction", "check_not_measured",
    "check_precondition", "check_sanity", "check_validation", "decide", "Decision", "holm_adjust", "replicates_to_decide",
    "headline",
]

#: one-sided level of every test (a 95% two-sided interval clears a boundary exactly when p < ALPHA)
ALPHA = 0.025
#: power at which the minimum detectable effect is quoted
POWER = 0.8
_Z95 = float(stats.norm.ppf(1 - ALPHA))


def _finite(*xs: float | None) -> bool:
    return all(x is not None and math.isfinite(float(x)) for x in xs)


def _f(x: object) -> float | None:
    try:
        return None if x is None else float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _fci(ci: tuple[float, float] | None) -> tuple[float, float] | None:
    """The interval as floats, or None when either end is missing or not a number."""
    if ci is None:
        return None
    lo, hi = _f(ci[0]), _f(ci[1])
    return None if lo is None or hi is None else (lo, hi)


@dataclass(frozen=True)
class _Meta:
    """The descriptive fields every check constructor passes through to :class:`Check`."""

    details: dict[str, Any]
    replicates: int | None
    unit: str
    part: str
    cell: dict[str, Any]
    role: CheckRole

    def check(self, name: str, kind: CheckKind, estimate: float | None, ci: tuple[float, float] | None,
              predicted: str, verdict: Verdict, reason: str, p_support: float | None = None,
              p_refute: float | None = None, mde: float | None = None) -> Check:
        return Check(name, kind, estimate, ci, predicted, verdict, reason, dict(self.details), role=self.role,
                     part=self.part, cell=dict(self.cell), p_support=p_support, p_refute=p_refute, mde=mde,
                     replicates=self.replicates, unit=self.unit)


def _p_above(estimate: float, boundary: float, se: float, dof: int | None) -> float:
    """One-sided p-value of H0: theta <= boundary (small when the estimate is well above it)."""
    if se <= 0:
        return 0.0 if estimate > boundary else 1.0
    t = (estimate - boundary) / se
    return float(stats.norm.sf(t) if dof is None else stats.t.sf(t, dof))


def _side_se(estimate: float, lo: float, hi: float, se: float | None, dof: int | None) -> tuple[float, float]:
    """Standard errors below and above the estimate: ``se`` itself, or read off the interval's sides."""
    if se is not None:
        return float(se), float(se)
    return max(estimate - lo, 0.0) / _Z95, max(hi - estimate, 0.0) / _Z95


def _quantile(p: float, dof: int | None) -> float:
    return float(stats.norm.ppf(p)) if dof is None else float(stats.t.ppf(p, dof))


def _mde(se_lo: float, se_hi: float, dof: int | None) -> float:
    return (_quantile(1 - ALPHA, dof) + _quantile(POWER, dof)) * max(se_lo, se_hi)


def _dof(dof: int | None) -> int | None:
    return None if dof is None or dof <= 0 else int(dof)


def _exact(c: Check) -> Check:
    """p-values of a check decided exactly (an envelope or an exact computation): 0 or 1."""
    c.p_support = 0.0 if c.verdict is Verdict.SUPPORTED else 1.0
    c.p_refute = 0.0 if c.verdict is Verdict.REFUTED else 1.0
    c.details.setdefault("interval", "envelope over every case (decided exactly)")
    return c


def check_value(name: str, estimate: float, ci: tuple[float, float], predicted: float, *,
                rel_tol: float = 0.0, abs_tol: float = 0.0, details: dict[str, Any] | None = None, se: float | None = None,
                dof: int | None = None, replicates: int | None = None, unit: str = "", part: str = "",
                cell: dict[str, Any] | None = None, role: CheckRole = "evidence", envelope: bool = False) -> Check:
    """Equivalence test: is ``estimate`` (with interval ``ci``) equal to ``predicted`` within tolerance?

    ``tol = abs_tol + rel_tol*|predicted|``. Supported when ``ci`` is inside ``[predicted-tol,
    predicted+tol]``; refuted when the two intervals do not intersect; inconclusive otherwise.
    ``p_support`` is the TOST p-value (the larger of the two one-sided ones); ``p_refute`` is twice the
    smaller p-value of "beyond the lower edge" and "beyond the upper edge" (Bonferroni over the sides).

    ``envelope=True``: ``ci`` is the envelope [min, max] of every case, not a sampling interval (the
    claim is about every case); the check is then decided exactly, its p-values are 0 or 1 and it has
    no MDE.
    """
    tol = abs_tol + rel_tol * abs(predicted)
    pred_s = f"{predicted:.6g} +- {tol:.3g}"
    meta = _Meta(details or {}, replicates, unit, part, dict(cell or {}), role)
    if not _finite(estimate, predicted, *(ci or (None, None))):
        return meta.check(name, "value", _f(estimate), _fci(ci), pred_s, Verdict.INCONCLUSIVE,
                          "measurement or prediction is not finite")
    lo, hi = float(min(ci)), float(max(ci))
    e = float(estimate)
    a, b = predicted - tol, predicted + tol
    if a <= lo and hi <= b:
        v, why = Verdict.SUPPORTED, f"CI [{lo:.4g}, {hi:.4g}] lies within [{a:.4g}, {b:.4g}]"
    elif hi < a or lo > b:
        v, why = Verdict.REFUTED, f"CI [{lo:.4g}, {hi:.4g}] lies outside [{a:.4g}, {b:.4g}]"
    else:
        v, why = Verdict.INCONCLUSIVE, f"CI [{lo:.4g}, {hi:.4g}] straddles the tolerance band [{a:.4g}, {b:.4g}]"
    if envelope:
        return _exact(meta.check(name, "value", e, (lo, hi), pred_s, v, why))
    dof = _dof(dof)
    s_lo, s_hi = _side_se(e, lo, hi, se, dof)
    p_in_lo = _p_above(e, a, s_lo, dof)          # H0: theta <= a
    p_in_hi = _p_above(-e, -b, s_hi, dof)        # H0: theta >= b
    p_below = _p_above(-e, -a, s_hi, dof)        # H0: theta >= a   (rejection: theta < a)
    p_above = _p_above(e, b, s_lo, dof)          # H0: theta <= b   (rejection: theta > b)
    return meta.check(name, "value", e, (lo, hi), pred_s, v, why, p_support=max(p_in_lo, p_in_hi),
                      p_refute=min(1.0, 2 * min(p_below, p_above)), mde=_mde(s_lo, s_hi, dof))


def check_direction(name: str, estimate: float, ci: tuple[float, float], *, greater_than: float | None = None,
                    less_than: float | None = None, details: dict[str, Any] | None = None, se: float | None = None,
                    dof: int | None = None, replicates: int | None = None, unit: str = "", part: str = "",
                    cell: dict[str, Any] | None = None, role: CheckRole = "evidence", envelope: bool = False) -> Check:
    """One-sided test: is the whole interval above ``greater_than`` (or below ``less_than``)?

    Supported when it is; refuted when the whole interval is on the other side; inconclusive when
    the interval contains the threshold. ``envelope``: as in :func:`check_value`.
    """
    if (greater_than is None) == (less_than is None):
        raise ValueError("give exactly one of greater_than / less_than")
    thr = greater_than if greater_than is not None else less_than
    rel = ">" if greater_than is not None else "<"
    pred_s = f"{rel} {thr:.6g}"
    meta = _Meta(details or {}, replicates, unit, part, dict(cell or {}), role)
    if not _finite(estimate, thr, *(ci or (None, None))):
        return meta.check(name, "direction", _f(estimate), _fci(ci), pred_s, Verdict.INCONCLUSIVE,
                          "measurement is not finite")
    assert ci is not None and thr is not None  # _finite checked them
    lo, hi = float(min(ci)), float(max(ci))
    e, thr = float(estimate), float(thr)
    ok, bad = (lo > thr, hi < thr) if rel == ">" else (hi < thr, lo > thr)
    if ok:
        v, why = Verdict.SUPPORTED, f"CI [{lo:.4g}, {hi:.4g}] is entirely {rel} {thr:.4g}"
    elif bad:
        v, why = Verdict.REFUTED, f"CI [{lo:.4g}, {hi:.4g}] is entirely on the wrong side of {thr:.4g}"
    else:
        v, why = Verdict.INCONCLUSIVE, f"CI [{lo:.4g}, {hi:.4g}] contains {thr:.4g}"
    if envelope:
        return _exact(meta.check(name, "direction", e, (lo, hi), pred_s, v, why))
    dof = _dof(dof)
    s_lo, s_hi = _side_se(e, lo, hi, se, dof)
    p_hi = _p_above(e, thr, s_lo, dof)           # H0: theta <= thr
    p_lo = _p_above(-e, -thr, s_hi, dof)         # H0: theta >= thr
    p_s, p_r = (p_hi, p_lo) if rel == ">" else (p_lo, p_hi)
    return meta.check(name, "direction", e, (lo, hi), pred_s, v, why, p_support=p_s, p_refute=p_r,
                      mde=_mde(s_lo, s_hi, dof))


def check_precondition(name: str, ok: bool, reason: str, details: dict[str, Any] | None = None, *,
                       cell: dict[str, Any] | None = None) -> Check:
    """A condition the measurement needs (e.g. "the estimator passed its ground-truth validation").

    A failed precondition makes the claim (or its cell) inconclusive, never refuted.
    """
    v = Verdict.SUPPORTED if ok else Verdict.INCONCLUSIVE
    return Check(name, "precondition", None, None, "holds", v, reason, details or {}, role="precondition",
                 cell=dict(cell or {}))


def check_validation(what: str, rows: Sequence[ValidationRow], *, cell: dict[str, Any] | None = None) -> Check:
    """Precondition "``what`` passed its ground-truth validation": every row of the estimator's
    ``validate()`` passed (no rows is a failure). A claim whose estimator fails it is inconclusive, never
    refuted."""
    rows = list(rows)
    name = f"{what} ground-truth validation"
    if not rows:
        return check_precondition(name, False, "no validation row was produced", cell=cell)
    bad = [r.case for r in rows if not r.passed]
    why = f"all {len(rows)} ground-truth cases passed" if not bad else f"failed: {', '.join(bad)}"
    return check_precondition(name, not bad, why, {"cases": [r.case for r in rows]}, cell=cell)


def check_sanity(check: Check) -> Check:
    """Relabel a check whose prediction holds by construction of the setup (a mathematical identity):
    reported as a sanity check, never counted as evidence; if it fails, the setup is broken and the
    claim is inconclusive."""
    check.role = "sanity"
    return check


def check_not_measured(name: str = "experiment", reason: str = "not yet measured") -> Check:
    return Check(name, "not-measured", None, None, "-", Verdict.INCONCLUSIVE, reason)


# ------------------------------------------------------------------------------------- deciding

def holm_adjust(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (same order as the input); reject H_i when adj_i <= alpha."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adj = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * float(pvalues[i])))
        adj[i] = running
    return adj


@dataclass(frozen=True)
class Decision:
    """What :func:`decide` returns: the claim's verdict, its reason and the regime map (None without axes)."""

    verdict: Verdict
    reason: str
    regimes: RegimeMap | None


def _cell_key(c: Check) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(k), str(v)) for k, v in c.cell.items()))


def _guards_of(check: Check, guards: list[Check]) -> list[Check]:
    """The preconditions and sanity checks that apply to ``check``: those without a cell, and those whose
    cell coordinates are a subset of the check's."""
    return [g for g in guards if all(check.cell.get(k) == v for k, v in g.cell.items())]


def _decide_group(checks: list[Check], holm_refuted: set[str]) -> tuple[Verdict, str]:
    """One verdict for a group of checks (a claim, or one regime cell with the claim-wide guards).

    A refutation counts only from an evidence check whose own guards (preconditions and sanity checks
    that apply to it) all hold: a measurement that cannot be trusted refutes nothing.
    """
    evidence = [c for c in checks if c.role == "evidence"]
    guards = [c for c in checks if c.role in ("precondition", "sanity")]
    failed = [g for g in guards if g.verdict is not Verdict.SUPPORTED]
    refuted = [c for c in evidence if c.name in holm_refuted and not _guards_of(c, failed)]
    if refuted:
        first = refuted[0]
        more = f" (and {len(refuted) - 1} more)" if len(refuted) > 1 else ""
        return Verdict.REFUTED, f"{first.name}: {first.reason}{more}"
    open_ = [c for c in evidence if c.verdict is not Verdict.SUPPORTED]
    if failed:
        c = failed[0]
        kind = "sanity check" if c.role == "sanity" else "precondition"
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        return Verdict.INCONCLUSIVE, f"{kind} {c.name}: {c.reason}{more}"
    if not evidence:
        return Verdict.INCONCLUSIVE, "no evidence check was measured"
    if open_:
        c = open_[0]
        why = c.reason
        if c.verdict is Verdict.REFUTED:
            why += f" (not significant after Holm over the claim's checks: adjusted p = {c.p_refute_holm:.3g})"
        more = f" (and {len(open_) - 1} more)" if len(open_) > 1 else ""
        return Verdict.INCONCLUSIVE, f"{c.name}: {why}{more}"
    return Verdict.SUPPORTED, f"all {len(evidence)} evidence checks passed"


def decide(checks: Sequence[Check], axes: Sequence[str] = (), condition: str = "", primary_part: str = "") -> Decision:
    """Combine the checks (see the module docstring); also fills each check's ``p_refute_holm``.

    ``axes`` names the regime axes of the checks' ``cell`` coordinates; with axes, the returned
    :class:`Decision` carries a regime map with one verdict per cell (checks without a cell, such as
    an estimator's validation, apply to every cell). A cell's primary check is its first evidence
    check whose ``part`` is ``primary_part``.
    """
    checks = list(checks)
    if not checks:
        return Decision(Verdict.INCONCLUSIVE, "not yet measured", None)
    evidence = [c for c in checks if c.role == "evidence"]
    adj = holm_adjust([1.0 if c.p_refute is None else c.p_refute for c in evidence])
    holm_refuted = set()
    for c, p in zip(evidence, adj):
        c.p_refute_holm = p
        if c.verdict is Verdict.REFUTED and p <= ALPHA:
            holm_refuted.add(c.name)
    verdict, reason = _decide_group(checks, holm_refuted)
    regimes = None
    if axes:
        shared = [c for c in checks if not c.cell]
        groups: dict[tuple[tuple[str, str], ...], list[Check]] = {}
        for c in checks:
            if c.cell:
                groups.setdefault(_cell_key(c), []).append(c)
        cells = []
        for members in groups.values():
            v, why = _decide_group(shared + members, holm_refuted)
            prim = next((c.name for c in members if c.role == "evidence" and primary_part
                         and c.part == primary_part), "")
            cells.append(RegimeCell(dict(members[0].cell), v, why,
                                    [c.name for c in members if c.role == "evidence"], prim))
        regimes = RegimeMap(tuple(axes), cells, condition)
    return Decision(verdict, reason, regimes)


def replicates_to_decide(check: Check) -> int | None:
    """About how many replicates would decide an inconclusive check, if the effect is as estimated.

    The interval shrinks like 1/sqrt(n); the check decides once ``(z_alpha + z_power) * se`` is below
    the distance from the estimate to the nearest decision boundary. None when the check has no
    replicate count or standard error, or when the estimate sits on a boundary.
    """
    if check.replicates is None or check.mde is None or check.estimate is None or check.ci is None:
        return None
    lo, hi = check.ci
    if check.kind == "direction":
        thr = float(check.predicted.split()[1])
        dist = abs(check.estimate - thr)
    elif check.kind == "value":
        centre, tol = (float(s) for s in check.predicted.split(" +- "))
        dist = abs(abs(check.estimate - centre) - tol)
    else:
        return None
    if dist <= 0 or check.mde <= 0:
        return None
    return int(math.ceil(check.replicates * (check.mde / dist) ** 2))


def headline(decision: Decision, axes_label: str = "") -> str:
    """One sentence: where the claim is supported, refuted and undecided (from the regime map)."""
    rm = decision.regimes
    if rm is None or len(rm.cells) <= 1:
        return f"{decision.verdict.value}: {decision.reason}"
    parts = []
    for v, word in ((Verdict.SUPPORTED, "supported in"), (Verdict.REFUTED, "refuted in"),
                    (Verdict.INCONCLUSIVE, "undecided in")):
        cells = rm.by_verdict(v)
        if cells:
            shown = "; ".join(c.label() for c in cells[:4]) + (f"; and {len(cells) - 4} more" if len(cells) > 4 else "")
            parts.append(f"{word} {len(cells)} of {len(rm.cells)} regimes ({shown})")
    sentence = ", ".join(parts)
    if rm.condition:
        sentence += f"; separating condition: {rm.condition}"
    return sentence[0].upper() + sentence[1:] + "."

"""The generic contract test (in the spirit of scikit-learn's ``check_estimator``): every registered claim
runs at the tiny scale, and its Evidence must match what the claim declares; every figure must read
only series its claims declare, and draws from that Evidence.

A claim's Evidence must have

* status "ok";
* every declared series (``Claim.series``) with the declared dims, and no undeclared series;
* every validation row a :class:`ValidationRow`;
* a regime map with at least two axes (the claim's ``axes``) and at least one cell;
* a primary check (``Evidence.primary`` names an evidence check of the claim's ``primary_part``);
* an MDE for every evidence check, or an explicit reason there is none (an envelope check decided
  exactly, ``details["interval"]``; or ``details["no_mde"]`` saying why).

Claims not converted yet are listed in ``NOT_CONVERTED`` and marked ``xfail(strict=True)``: the test
flips to a failure the moment one is converted, so the list is kept honest.
"""
from __future__ import annotations

import numpy as np
import pytest

import ibnorm_verify.paper_figures as pf
from ibnorm_verify.app.config import RunConfig
from ibnorm_verify.app.runner import run_claims
from ibnorm_verify.verification.claims import CLAIM_IDS, REGISTRY
from ibnorm_verify.verification.claims.base import Claim, SeriesSpec
from ibnorm_verify.verification.evidence import Evidence, Series, ValidationRow
from ibnorm_verify.verification.verdict import check_direction, check_precondition, check_value, decide

#: claims whose Evidence does not meet the contract yet (claim id -> what is missing)
NOT_CONVERTED: dict[str, str] = {}
#: figures that do not declare READS (or read series their claims do not declare) yet
FIGURES_NOT_CONVERTED: dict[str, str] = {}


def contract_problems(claim: Claim, ev: Evidence) -> list[str]:
    """Every way ``ev`` breaks the contract of ``claim`` (empty when it meets it)."""
    problems = []
    if not ev.ok:
        return [f"status {ev.status!r}: {ev.error}"]
    declared = {s.name: s for s in claim.series}
    if not declared:
        problems.append("declares no series")
    for name, spec in declared.items():
        s = ev.series.get(name)
        if s is None:
            problems.append(f"declared series {name!r} is missing (has {sorted(ev.series)})")
        elif tuple(s.dims) != tuple(spec.dims):
            problems.append(f"series {name!r} has dims {s.dims}, declared {spec.dims}")
    extra = sorted(set(ev.series) - set(declared))
    if extra:
        problems.append(f"undeclared series {extra}")
    bad_rows = [type(r).__name__ for r in ev.validation if not isinstance(r, ValidationRow)]
    if bad_rows:
        problems.append(f"{len(bad_rows)} validation rows are not ValidationRow ({bad_rows[0]})")
    if len(claim.axes) < 2:
        problems.append(f"declares {len(claim.axes)} regime axes (needs >= 2)")
    if ev.regimes is None or not ev.regimes.cells:
        problems.append("no regime map")
    elif tuple(ev.regimes.axes) != tuple(claim.axes):
        problems.append(f"regime map axes {ev.regimes.axes} differ from the declared {claim.axes}")
    prim = ev.primary_check()
    if prim is None:
        problems.append(f"no primary check (primary_part {claim.primary_part!r})")
    elif prim.role != "evidence" or prim.part != claim.primary_part:
        problems.append(f"primary check {prim.name!r} is a {prim.role} check of part {prim.part!r}")
    no_mde = [c.name for c in ev.checks if c.role == "evidence" and c.mde is None
              and not c.details.get("interval") and not c.details.get("no_mde")]
    if no_mde:
        problems.append(f"evidence checks without an MDE or a reason: {no_mde[:4]}")
    return problems


def _claim_params():
    return [pytest.param(cid, marks=pytest.mark.xfail(strict=True, reason=f"{cid}: {NOT_CONVERTED[cid]}"))
            if cid in NOT_CONVERTED else cid for cid in CLAIM_IDS]


@pytest.fixture(scope="module")
def tiny_evidence(tmp_path_factory):
    """Every claim at the tiny scale, once per session (shared, through the claim cache, with the figure
    dry-run and the notebooks: the same directory)."""
    out = tmp_path_factory.getbasetemp() / "tiny-run" / "_results"
    evidence, _ = run_claims(RunConfig(claims=list(CLAIM_IDS), scale="tiny", out=out, quiet=True, figures=False))
    return {ev.claim_id: ev for ev in evidence}


@pytest.mark.parametrize("cid", _claim_params())
def test_claim_evidence_meets_its_declarations(cid, tiny_evidence):
    problems = contract_problems(REGISTRY[cid], tiny_evidence[cid])
    assert not problems, f"{cid}:\n  " + "\n  ".join(problems)


def _figure_params():
    return [pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=f"{n}: {FIGURES_NOT_CONVERTED[n]}"))
            if n in FIGURES_NOT_CONVERTED else n for n in pf.FIGURES]


def figure_problems(name: str) -> list[str]:
    """Every way figure ``name``'s declarations disagree with its claims' declarations."""
    mod = pf.figure_module(name)
    reads = pf.reads(name)
    if reads is None:
        return ["declares no READS"]
    problems = []
    if not getattr(mod, "CAPTION", ""):
        problems.append("no CAPTION")
    for cid, names in reads.items():
        if cid not in mod.CLAIMS:
            problems.append(f"READS claim {cid!r} not in CLAIMS")
        if cid not in REGISTRY:
            problems.append(f"READS unknown claim {cid!r}")
            continue
        declared = {s.name for s in REGISTRY[cid].series}
        missing = [s for s in names if s not in declared]
        if missing:
            problems.append(f"reads {missing} from {cid}, which declares {sorted(declared)}")
    if not reads and not getattr(mod, "ANY_CLAIM", False):
        problems.append("READS is empty")
    if hasattr(mod, "main"):
        problems.append("has a main(): figures are drawn by the app (`ibnorm-verify figures`)")
    return problems


@pytest.mark.parametrize("name", _figure_params())
def test_figure_reads_what_its_claims_declare_and_draws(name, tiny_evidence, tmp_path, monkeypatch):
    problems = figure_problems(name)
    assert not problems, f"{name}:\n  " + "\n  ".join(problems)
    monkeypatch.setenv("PAPER_FIGURES_FORMATS", "png")
    ok = {cid: ev for cid, ev in tiny_evidence.items() if ev.ok}
    paths = pf.figure_module(name).make(ok, tmp_path)
    assert paths and all(p.exists() for p in paths)


# ----------------------------------------------------------------------------- the checkers can fail
class _Declared(Claim):
    id = "test.contract"
    axes = ("a", "b")
    primary_part = "main"
    series = (SeriesSpec("s", ("x", "seed")),)


def _good() -> Evidence:
    checks = [check_precondition("validated", True, "ok"),
              check_direction("m1", 1.0, (0.5, 1.5), greater_than=0.0, se=0.25, dof=3, replicates=4, unit="seeds",
                              part="main", cell={"a": 1, "b": "x"}),
              check_value("env", 0.0, (-0.1, 0.1), 0.0, abs_tol=1.0, envelope=True, part="other",
                          cell={"a": 2, "b": "x"})]
    d = decide(checks, _Declared.axes, "a > 0", "main")
    return Evidence(claim_id="test.contract", paper="x", title="t", statement="s", provenance="reconstructed",
                    verdict=d.verdict, reason=d.reason, primary="m1", checks=checks, regimes=d.regimes,
                    series={"s": Series("s", ("x", "seed"), {"x": [1, 2], "seed": [0]}, np.ones((2, 1)))},
                    validation=[ValidationRow("e", "c", 1.0, 1.0, True, "exact")])


@pytest.mark.parametrize("break_it,expect", [
    (lambda ev: setattr(ev, "status", "crashed"), "status"),
    (lambda ev: ev.series.pop("s"), "missing"),
    (lambda ev: ev.series.update(s=Series("s", ("seed", "x"), {"x": [1, 2], "seed": [0]}, np.ones((1, 2)))), "dims"),
    (lambda ev: ev.series.update(t=Series("t", ("x",), {"x": [1]}, [1.0])), "undeclared"),
    (lambda ev: ev.validation.append({"case": "dict"}), "ValidationRow"),
    (lambda ev: setattr(ev, "regimes", None), "regime map"),
    (lambda ev: setattr(ev, "primary", ""), "primary"),
    (lambda ev: setattr(ev.checks[1], "mde", None), "MDE"),
])
def test_contract_checker_catches_each_violation(break_it, expect):
    claim = _Declared()
    assert contract_problems(claim, _good()) == []
    ev = _good()
    break_it(ev)
    assert any(expect in p for p in contract_problems(claim, ev))


def test_lists_name_only_known_claims_and_figures():
    assert set(NOT_CONVERTED) <= set(CLAIM_IDS) and set(FIGURES_NOT_CONVERTED) <= set(pf.FIGURES)

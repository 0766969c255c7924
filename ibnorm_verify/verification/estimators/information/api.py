"""``mutual_information(x, y, method=..., **settings) -> MIEstimate``: the registry, input routing and
uncertainty of the MI estimators (nats).

Methods (:data:`METHODS`; ``kind`` says which inputs each takes):

* continuous x, continuous y: ``"ksg"`` (:mod:`.knn`), ``"gaussian"`` (plug-in), ``"gaussian_copula"``
  (:mod:`.gaussian`), ``"infonce"``, ``"nwj"``, ``"dv"``, ``"smile"`` (held-out variational bounds,
  :mod:`.neural`), ``"neural_ksg"`` (KSG on a 2+2-dimensional contrastive bottleneck, a data-processing
  lower bound), ``"hybrid"`` (the largest of ``gaussian_copula``, ``neural_ksg`` and, for at most 4
  dimensions in all, ``ksg``: each is a lower bound up to its sampling error, so the largest is the
  tightest), and the comparison-only ``"binning"`` (warned about beyond 2 dimensions) and ``"renyi"``
  (not Shannon MI).
* integer labels y (n,) against continuous x: ``"mixed_ksg"`` (Ross 2014) and ``"classifier"`` (the
  cross-entropy bracket H(Y) - CE <= I <= H(Y), :mod:`.discrete`).
* discrete x and y: ``"plugin"`` (Miller-Madow).
* ``"auto"`` (the default): discrete/discrete -> plugin; labels against features with <= 3 dimensions ->
  mixed_ksg, more -> classifier; continuous 1-D against 1-D -> ksg, anything wider -> hybrid. The
  estimate's ``picked`` names the route. Chosen on the 40 "Beyond Normal" tasks
  (``docs/benchmarks/information.md``).

Never answers what it cannot: discrete-looking inputs given to a continuous method raise a ``ValueError``
naming the remedy; repeated points, a singular joint covariance, or an estimate at the ceiling an
estimator can reach on n samples raise :class:`~.inputs.UnboundedMIError` (I(X;Y) = +inf for exact
functional dependence of continuous variables; use :func:`~.noisy_channel.noisy_channel_mi`).

Uncertainty (always finite): ``uncertainty="subsample"`` (default) takes the standard deviation over
``n_blocks`` disjoint subsamples / sqrt(n_blocks) (the variance of these estimators scales as 1/n;
Holmes & Nemenman 2019; no bootstrap: duplicated points bias kNN estimators upward), or the held-out
standard error of a trained estimator; then adds the method's validated bias band in quadrature
(:mod:`.validation`). ``uncertainty="none"`` skips the sampling part (``statistical`` = 0).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .bias_bands import bias_band
from .discrete import binning, classifier_bound, plugin, renyi
from .estimate import MIEstimate
from .gaussian import gaussian_copula, gaussian_plugin
from .inputs import (
    UnboundedMIError,
    as_2d,
    as_labels,
    check_not_constant,
    duplicate_fraction,
    is_discrete,
    max_tie_fraction,
    normal_scores,
    positive_int,
)
from .knn import ksg, ksg_ceiling, mixed_ksg
from .neural import OBJECTIVES, bottleneck_embeddings, neural_mi

__all__ = ["METHODS", "DISCRETE_METHODS", "LABEL_METHODS", "DEFAULT_METHOD", "mutual_information", "estimator",
           "route"]

Array = np.ndarray
DEFAULT_METHOD = "auto"
#: marginal ties tolerated by the continuous kNN methods (share of repeated values in a column)
MAX_TIE_FRACTION = 0.01
_NEURAL_DEFAULTS = {"steps": 1000, "batch": 256, "hidden": 64, "embed": 32, "lr": 2e-3, "copula": True}


@dataclass(frozen=True)
class Method:
    """A registered estimator: ``kind`` of inputs ("continuous", "label", "discrete"), its defaults."""

    name: str
    kind: str
    defaults: dict
    min_n: Callable[[dict], int] = lambda s: 3
    max_n: int | None = None          # larger inputs are randomly subsampled (O(n^3) methods)
    trained: bool = False             # own held-out standard error instead of subsampling
    comparison_only: bool = False
    doc: str = ""
    extra: dict = field(default_factory=dict)


METHODS: dict[str, Method] = {m.name: m for m in [
    Method("ksg", "continuous", {"k": 5, "copula": True, "algorithm": "auto"}, min_n=lambda s: s["k"] + 2,
           doc="Kraskov et al. 2004 estimator 1"),
    Method("gaussian", "continuous", {"copula": False}, doc="plug-in Gaussian MI"),
    Method("gaussian_copula", "continuous", {"bias_correct": True}, min_n=lambda s: 8,
           doc="Gaussian-copula MI, bias-corrected (Ince et al. 2017)"),
    Method("binning", "continuous", {"bins": 10, "copula": False}, min_n=lambda s: 2, comparison_only=True),
    Method("renyi", "continuous", {"alpha": 1.01, "bandwidth": 1.0, "copula": False}, min_n=lambda s: 10,
           max_n=1000, comparison_only=True),
    *[Method(o, "continuous", dict(_NEURAL_DEFAULTS), min_n=lambda s: 4 * s["batch"], trained=True,
             doc=f"held-out {o} bound of a separable critic") for o in OBJECTIVES],
    Method("neural_ksg", "continuous", {**_NEURAL_DEFAULTS, "embed": 2, "k": 5}, min_n=lambda s: 4 * s["batch"],
           trained=True, doc="KSG on a contrastive bottleneck (data-processing lower bound)"),
    Method("hybrid", "continuous", {"k": 5, "steps": 1000, "batch": 256}, min_n=lambda s: 4 * s["batch"],
           trained=True, doc="largest of gaussian_copula, neural_ksg and (<= 4 dims) ksg"),
    Method("mixed_ksg", "label", {"k": 5, "copula": True}, min_n=lambda s: s["k"] + 2, doc="Ross 2014"),
    Method("classifier", "label", {"hidden": 64, "steps": 600}, min_n=lambda s: 300, trained=True,
           doc="cross-entropy bracket H(Y) - CE <= I <= H(Y)"),
    Method("plugin", "discrete", {"miller_madow": True}, min_n=lambda s: 2, doc="plug-in, Miller-Madow"),
]}
LABEL_METHODS = tuple(k for k, m in METHODS.items() if m.kind == "label")
DISCRETE_METHODS = LABEL_METHODS + ("plugin",)
_PRIVATE = ("uncertainty", "n_blocks", "seed", "workers")
_INT_SETTINGS = {"k": 1, "bins": 2, "steps": 1, "batch": 2, "hidden": 0, "embed": 1}


# --------------------------------------------------------------------------------------- routing

def route(x: Any, y: Any) -> tuple[str, str]:
    """(method, reason) that ``method="auto"`` takes for these inputs (after :func:`_prepare`)."""
    dx_disc, dy_disc = is_discrete(x), is_discrete(y)
    if dx_disc and dy_disc:
        return "plugin", "x and y discrete"
    if dx_disc or dy_disc:
        feats = np.asarray(y if dx_disc else x)
        d = 1 if feats.ndim == 1 else feats.shape[1]
        if d <= 3:
            return "mixed_ksg", f"labels against {d}-dimensional features (<= 3: kNN)"
        return "classifier", f"labels against {d}-dimensional features (> 3: classifier bracket)"
    dx = 1 if np.ndim(x) == 1 else np.shape(x)[1]
    dy = 1 if np.ndim(y) == 1 else np.shape(y)[1]
    if dx == 1 and dy == 1:
        return "ksg", "continuous 1-D against 1-D"
    return "hybrid", f"continuous {dx} + {dy} dimensions"


def _discrete_error(name: str, method: str) -> ValueError:
    return ValueError(
        f"{name} looks discrete (integer/boolean dtype or few distinct values) but method {method!r} is for "
        f"continuous data (kNN distances and densities are undefined on ties). Use method='auto' (routes "
        f"discrete data), 'plugin' (both discrete), 'mixed_ksg' or 'classifier' (integer labels y against "
        f"continuous x), or add a stated noise model (noisy_channel_mi).")


def _check_continuous(a: Array, name: str, method: str) -> None:
    if is_discrete(a):
        raise _discrete_error(name, method)
    ties = max_tie_fraction(a)
    if ties > MAX_TIE_FRACTION:
        raise ValueError(
            f"{name} has repeated values ({ties:.1%} of a column's entries are ties): kNN and density "
            f"estimators assume continuous data. If {name} is discrete use method='auto' or 'plugin'; if it "
            "is a clipped or quantized continuous variable, I(X;Y) may be unbounded or ill-defined without a "
            "noise model (noisy_channel_mi), or add continuous noise of a stated width first.")


def _check_joint(x: Array, y: Array) -> None:
    if duplicate_fraction(np.hstack([x, y])) > 0:
        raise UnboundedMIError(
            "some (x, y) points repeat exactly (zero-distance neighbours): for continuous variables this "
            "happens only under exact functional dependence, where I(X;Y) is unbounded without a noise model "
            "(use noisy_channel_mi with a stated noise width); for discrete data use method='auto' or 'plugin'.")


# ----------------------------------------------------------------------------------- point estimates

def _ksg_checked(x: Array, y: Array, k: int, algorithm: str = "auto", workers: int = 1) -> float:
    v = ksg(x, y, k=k, algorithm=algorithm, workers=workers)
    ceiling = ksg_ceiling(x.shape[0], k)
    if v > ceiling - 1.0:
        raise UnboundedMIError(
            f"the KSG estimate {v:.2f} is within 1 nat of the largest value KSG can return on n={x.shape[0]} "
            f"samples (psi(n) - psi(k) = {ceiling:.2f}): the neighbours coincide in both marginals, as for an "
            "exact functional dependence, where I(X;Y) is unbounded. Use noisy_channel_mi with a stated noise "
            "width, or more samples if the MI is merely large.")
    return v


def _neural_checked(r: dict, objective: str) -> None:
    if objective == "infonce" and r["value"] > r["cap"] - 1.0:
        raise UnboundedMIError(
            f"the InfoNCE bound {r['value']:.2f} is within 1 nat of its cap log(n_test) = {r['cap']:.2f}: it "
            "cannot exceed log of the number of scored samples, so the MI may be larger or unbounded. Use more "
            "samples, a non-capped bound ('nwj', 'smile'), or a noise model.")


def _point(method: str, x: Array, y: Array, s: dict, seed: int) -> dict:
    """One estimate on checked arrays -> {"value", "se" (or None), "lower", "upper", "picked", "notes"}."""
    m = METHODS[method]
    out: dict = {"se": None, "lower": None, "upper": None, "picked": "", "notes": []}
    if s.get("copula"):
        x = normal_scores(x)
        if m.kind == "continuous":
            y = normal_scores(y)
    if m.max_n is not None and x.shape[0] > m.max_n:
        idx = np.random.default_rng(seed).choice(x.shape[0], m.max_n, replace=False)
        x, y = x[idx], y[idx]
    if method == "ksg":
        out["value"] = _ksg_checked(x, y, s["k"], s["algorithm"], s.get("workers", 1))
    elif method == "gaussian":
        out["value"] = gaussian_plugin(x, y)
    elif method == "gaussian_copula":
        out["value"] = gaussian_copula(x, y, s["bias_correct"])
    elif method == "binning":
        out["value"] = binning(x, y, s["bins"])
    elif method == "renyi":
        out["value"] = renyi(x, y, s["alpha"], s["bandwidth"])
    elif method in OBJECTIVES:
        args = {k: s[k] for k in ("steps", "batch", "hidden", "embed", "lr")}
        r = neural_mi(x, y, method, seed=seed, **args)
        _neural_checked(r, method)
        out.update(value=r["value"], se=r["se"], lower=r["value"])
        out["notes"].append(f"trained {r['steps']} steps; held-out n={r['n_test']}")
        if method == "infonce":
            out["notes"].append(f"InfoNCE can never exceed log(n_test) = {r['cap']:.2f} nats")
    elif method == "neural_ksg":
        out.update(_neural_ksg(x, y, s, seed))
    elif method == "hybrid":
        out.update(_hybrid(x, y, s, seed))
    elif method == "mixed_ksg":
        out["value"] = mixed_ksg(x, y, s["k"])
    elif method == "classifier":
        r = classifier_bound(x, y, hidden=s["hidden"], steps=s["steps"], seed=seed)
        out.update(value=r["lower"], se=r["se"], lower=r["lower"], upper=r["upper"])
        out["notes"].append(f"bracket: H(Y) - CE = {r['lower']:.3f} <= I <= H(Y) = {r['upper']:.3f} "
                            f"({r['model']} classifier, held-out n={r['n_test']})")
    elif method == "plugin":
        out["value"] = plugin(x, y, s["miller_madow"])
    else:  # pragma: no cover - the registry and this switch are kept in step by the tests
        raise AssertionError(method)
    return out


def _block_se(fn: Callable[[Array, Array], float], x: Array, y: Array, n_blocks: int, seed: int) -> float | None:
    """std over n_blocks disjoint random blocks / sqrt(n_blocks), or None when a block is too small."""
    n = x.shape[0]
    size = n // n_blocks
    if size < 20:
        return None
    perm = np.random.default_rng(seed).permutation(n)
    vals = [fn(x[perm[b * size:(b + 1) * size]], y[perm[b * size:(b + 1) * size]]) for b in range(n_blocks)]
    return float(np.std(vals, ddof=1) / math.sqrt(n_blocks))


def _neural_ksg(x: Array, y: Array, s: dict, seed: int) -> dict:
    args = {k: s[k] for k in ("steps", "batch", "hidden", "lr")}
    r = bottleneck_embeddings(x, y, embed=s["embed"], seed=seed, **args)
    ex, ey = normal_scores(r["embed_x"]), normal_scores(r["embed_y"])
    v = _ksg_checked(ex, ey, s["k"])
    se = _block_se(lambda a, b: ksg(a, b, s["k"]), ex, ey, 5, seed)
    return {"value": v, "se": se, "lower": None,
            "notes": [f"KSG(k={s['k']}) on {s['embed']}+{s['embed']}-dim contrastive embeddings of the held-out "
                      f"n={r['n_test']} (critic trained {r['steps']} steps)"]}


def _hybrid(x: Array, y: Array, s: dict, seed: int) -> dict:
    """The largest of the lower-bound-type estimates (each within its sampling error of a lower bound)."""
    cands: dict[str, tuple[float, float | None]] = {}
    cands["gaussian_copula"] = (gaussian_copula(x, y), _block_se(gaussian_copula, x, y, 5, seed))
    xs, ys = normal_scores(x), normal_scores(y)          # the copula step of ksg and neural_ksg
    nk = _neural_ksg(xs, ys, {**METHODS["neural_ksg"].defaults, "k": s["k"], "steps": s["steps"],
                              "batch": s["batch"]}, seed)
    cands["neural_ksg"] = (nk["value"], nk["se"])
    if x.shape[1] + y.shape[1] <= 4:
        cands["ksg"] = (_ksg_checked(xs, ys, s["k"]), _block_se(lambda a, b: ksg(a, b, s["k"]), xs, ys, 5, seed))
    best = max(cands, key=lambda c: cands[c][0])
    note = "candidates: " + ", ".join(f"{c} {v:.3f}" for c, (v, _) in cands.items())
    return {"value": cands[best][0], "se": cands[best][1], "picked": best, "notes": [note] + nk["notes"]}


# ------------------------------------------------------------------------------------------- API

def _prepare(method: str, x: Any, y: Any) -> tuple[str, Array, Array, str]:
    """Resolve ``auto``, convert and check the inputs; returns (method, x, y, route reason)."""
    reason = ""
    if method == "auto":
        xa, ya = np.asarray(x.detach().cpu() if hasattr(x, "detach") else x), \
            np.asarray(y.detach().cpu() if hasattr(y, "detach") else y)
        if xa.shape[:1] != ya.shape[:1]:
            raise ValueError(f"x and y must have the same number of samples, got {xa.shape[:1]} and {ya.shape[:1]}")
        method, reason = route(xa, ya)
        if METHODS[method].kind == "label" and is_discrete(xa) and not is_discrete(ya):
            x, y = y, x                       # MI is symmetric: features first, labels second
    kind = METHODS[method].kind
    if kind == "discrete":
        xa, ya = as_labels(x, "x"), as_labels(y, "y")
    else:
        xa = as_2d(x, "x")
        ya = as_labels(y, "y") if kind == "label" else as_2d(y, "y")
    if xa.shape[0] != ya.shape[0]:
        raise ValueError(f"x and y must have the same number of samples, got {xa.shape[0]} and {ya.shape[0]}")
    if kind != "discrete":
        check_not_constant(xa, "x")
    if kind == "continuous":
        check_not_constant(ya, "y")
        if not METHODS[method].comparison_only:
            if is_discrete(xa) or is_discrete(ya):
                raise _discrete_error("x" if is_discrete(xa) else "y", method)
            _check_joint(xa, ya)
            _check_continuous(xa, "x", method)
            _check_continuous(ya, "y", method)
    if kind == "label":
        if is_discrete(xa):
            raise _discrete_error("x", method)
        _check_joint(xa, ya[:, None].astype(float))
    if method == "binning" and xa.shape[1] + ya.shape[1] > 2:
        warnings.warn(f"binning on {xa.shape[1]} + {ya.shape[1]} dimensions: equal-width histograms are far off "
                      "beyond 2 dimensions (mean error 2.6 nats on the Beyond-Normal tasks); use method='auto'",
                      UserWarning, stacklevel=3)
    return method, xa, ya, reason


def mutual_information(x: Any, y: Any, method: str = DEFAULT_METHOD, *, uncertainty: str = "subsample",
                       n_blocks: int = 5, seed: int = 0, **settings) -> MIEstimate:
    """Estimate I(X;Y) in nats from paired samples ``x`` (n, dx) and ``y`` (n, dy) (or labels (n,)).

    Args:
        method: one of :data:`METHODS` or ``"auto"`` (default; see the module docstring).
        uncertainty: ``"subsample"`` (standard deviation over ``n_blocks`` disjoint subsamples /
            sqrt(n_blocks); trained estimators use their held-out standard error) or ``"none"``; the
            validated bias band is added in quadrature either way.
        seed: seeds the subsampling and the trained estimators.
        **settings: method settings (e.g. ``k=5, copula=True`` for KSG); unknown ones raise ``ValueError``.
            With ``method="auto"`` they are passed to the picked method where it has them.

    Raises:
        ValueError: unknown method/setting, mismatched lengths, too few samples, constant columns,
            non-finite values, empty input, discrete-looking data for a continuous method.
        UnboundedMIError (a ValueError): exact functional dependence / estimates at an estimator's ceiling.
        TypeError: non-numeric input or non-integer labels.
    """
    if method != "auto" and method not in METHODS:
        raise ValueError(f"unknown method {method!r}; known: {['auto'] + sorted(METHODS)}")
    if uncertainty not in ("subsample", "none"):
        raise ValueError(f"uncertainty must be 'subsample' or 'none', got {uncertainty!r}")
    known = set(METHODS[method].defaults) if method != "auto" else set().union(*(m.defaults for m in METHODS.values()))
    unknown = set(settings) - known - {"workers"}
    if unknown:
        raise ValueError(f"method {method!r} has no setting(s) {sorted(unknown)}; known: {sorted(known)}")
    requested = method
    method, xa, ya, reason = _prepare(method, x, y)
    m = METHODS[method]
    s = {**m.defaults, **{k: v for k, v in settings.items() if k in m.defaults or k == "workers"}}
    for key, lo in _INT_SETTINGS.items():
        if key in s:
            s[key] = positive_int(s[key], key, lo)
    n = xa.shape[0]
    need = m.min_n(s)
    if n < need:
        raise ValueError(f"method {method!r} with settings {s} needs at least {need} samples, got {n}")
    p = _point(method, xa, ya, s, seed)
    value = float(p["value"])
    stat, notes = 0.0, list(p["notes"])
    if uncertainty == "subsample":
        if p["se"] is not None:
            stat = float(p["se"])
        elif not m.trained:
            nb = positive_int(n_blocks, "n_blocks", 2)
            size = n // nb
            ok = size >= need and (m.kind != "label" or np.bincount(ya).min() // nb > s.get("k", 0))
            if not ok:
                raise ValueError(f"n={n} is too small for a subsampling uncertainty with n_blocks={nb} (each block "
                                 f"needs {need} samples{' and more than k per class' if m.kind == 'label' else ''}); "
                                 "use fewer blocks, more samples, or uncertainty='none'")
            perm = np.random.default_rng(seed).permutation(n)
            vals = [_point(method, xa[perm[b * size:(b + 1) * size]], ya[perm[b * size:(b + 1) * size]], s,
                           seed + b)["value"] for b in range(nb)]
            stat = float(np.std(vals, ddof=1) / math.sqrt(nb))
            if method == "ksg" and value - float(np.mean(vals)) > 0.5 * math.log(nb) and value > 1.0:
                raise UnboundedMIError(
                    f"the KSG estimate grows like log(n) (n={n}: {value:.2f}; blocks of n/{nb}: {np.mean(vals):.2f}): "
                    "the signature of an exact functional dependence, for which I(X;Y) is unbounded. Use "
                    "noisy_channel_mi with a stated noise width.")
        else:
            notes.append("no sampling uncertainty available for this trained estimator")
    dx, dy = (xa.shape[1] if xa.ndim == 2 else 1), (ya.shape[1] if ya.ndim == 2 else 1)
    band, band_note = bias_band(method, dx, dy)
    notes.append(band_note)
    total = math.sqrt(stat ** 2 + band ** 2)
    rec = dict(s)
    rec.update(uncertainty=uncertainty, n_blocks=n_blocks if uncertainty == "subsample" else None, seed=seed)
    if requested == "auto":
        rec["route"] = reason
        picked = method if not p["picked"] else f"{method}:{p['picked']}"
    elif p["picked"]:
        picked = f"{method}:{p['picked']}"
    else:
        picked = method
    return MIEstimate(value=value, uncertainty=total, method=requested, settings=rec, n=n, picked=picked,
                      statistical=stat, bias_band=band, lower=p["lower"], upper=p["upper"], notes=tuple(notes))


def estimator(method: str = DEFAULT_METHOD, **settings) -> Callable[[Any, Any], MIEstimate]:
    """``estimator("ksg", k=5)`` -> ``f(x, y) -> MIEstimate`` (for :func:`~.validation.validate_estimator`)."""
    if method != "auto" and method not in METHODS:
        raise ValueError(f"unknown method {method!r}; known: {['auto'] + sorted(METHODS)}")

    def f(x, y):
        return mutual_information(x, y, method=method, **settings)
    f.__name__ = f"mi_{method}"
    return f

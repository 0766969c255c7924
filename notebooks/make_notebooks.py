"""Write the three guided-tour notebooks (outputs stripped): capacity, information, empirical.

    .venv/bin/python notebooks/make_notebooks.py

Each notebook is a tour in three parts:

1. **The public API on a small example the reader builds**: the layers (``IBLayerNorm``,
   ``convert_norms``), ``estimate_lipschitz`` on a network whose Lipschitz constant is known, and
   ``mutual_information`` on data whose mutual information is known in closed form.
2. **The verdicts**: the results of ``make verify`` (``../results``, or ``IBNORM_NOTEBOOK_RESULTS``)
   when they hold the family's claims; otherwise the claims run here at the tiny smoke-test scale
   (into ``IBNORM_NOTEBOOK_WORKDIR``, default a temporary directory). The summary, "why" and
   "what would change" lines of the report, and the figures.
3. **Try this**: cells that change a parameter, re-run a claim at the tiny scale and print the
   verdict before and after.

The notebooks are generated from this file: edit it, not the JSON. ``tests/notebooks`` executes all
three with nbclient at the tiny scale.
"""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

SETUP = '''import os
import tempfile
from pathlib import Path

from IPython.display import Image, Markdown, display

from ibnorm_verify.app.config import RunConfig
from ibnorm_verify.app.publish import draw_figures
from ibnorm_verify.app.records import load_results
from ibnorm_verify.app.report import primary_line, summary_markdown, what_would_change, why_line
from ibnorm_verify.app.runner import run_claims

CLAIMS = {claims!r}
# the results `make verify` wrote (a finished run), and a scratch directory for the runs made here
RESULTS = Path(os.environ.get("IBNORM_NOTEBOOK_RESULTS", "../results"))
WORK = Path(os.environ.get("IBNORM_NOTEBOOK_WORKDIR") or tempfile.mkdtemp(prefix="ibnorm-notebook-"))


def load_or_run(claims):
    """The claims' Evidence from RESULTS when it holds all of them, else a tiny-scale run (seconds to minutes)."""
    try:
        evidence, meta = load_results(RESULTS)
        have = {{ev.claim_id: ev for ev in evidence}}
        if all(c in have for c in claims):
            print(f"read {{RESULTS / 'results.json'}} (scale {{(meta.get('config') or {{}}).get('scale')}})")
            return [have[c] for c in claims]
    except (FileNotFoundError, ValueError):
        pass
    print("no results of `make verify` with these claims: running them at the tiny scale (not evidence)")
    evidence, _ = run_claims(RunConfig(claims=claims, scale="tiny", out=WORK, quiet=True, figures=False))
    return evidence


def verdict_of(claim_id, **params):
    """Run one claim at the tiny scale with parameter overrides; return its Evidence."""
    out = WORK / "try-this"
    (ev,), _ = run_claims(RunConfig(claims=[claim_id], scale="tiny", params=params, out=out, quiet=True,
                                    figures=False))
    return ev'''

VERDICTS = '''evidence = load_or_run(CLAIMS)
display(Markdown(summary_markdown(evidence)))
for ev in evidence:
    display(Markdown(f"**`{ev.claim_id}`: {ev.verdict.value}.** {primary_line(ev)}  \\n*Why:* {why_line(ev)}"
                     + (f"  \\n*What would change it:* {what_would_change(ev)}" if what_would_change(ev) else "")))'''

FIGURES = '''figures = draw_figures(evidence, WORK / "figures")
for f in figures.refs:
    display(Markdown(f"**{f.name}**: {f.caption}"))
    display(Image(filename=str(f.png)))
for name, why in figures.failed.items():   # said, never a blank plot
    print(f"figure {name} not drawn: {why}")'''

FAMILIES = {
    "capacity": {
        "title": "Exponential capacity control (arXiv 2511.00958): a guided tour",
        "intro": ("The capacity paper says that an unnormalized deep network can have a Lipschitz constant exponential "
                  "in its depth, and that K normalization layers divide it by about the product of their input "
                  "standard deviations over |gamma|. The statements tested here are partly reconstructions: "
                  "`docs/papers/capacity.md` says what the paper states and what we reconstructed."),
        "claims": ["cap.norm-jacobian", "cap.unnormalized-exponential-input", "cap.unnormalized-exponential-params",
                   "cap.normalization-exponential-reduction", "cap.loss-smoothness"],
        "api_md": ("## 1. Measure a Lipschitz constant yourself\n\n`estimate_lipschitz(model, inputs)` returns an "
                   "*attained* lower bound (a point and direction where the Jacobian norm is that large) and a "
                   "*certified* upper bound. On a chain of `depth` orthogonal layers of gain g without activations "
                   "the exact value is g^depth, so log Lip = depth * log g: the bracket must contain it. Then the "
                   "same weights with a LayerNorm after every second layer, and with an IBLayerNorm (compression "
                   "before standardization)."),
        "api": '''import math

import torch
from torch import nn

from ibnorm import IBLayerNorm
from ibnorm_verify.verification.estimators.lipschitz import estimate_lipschitz


def chain(depth, gain, norm=None, width=16, every=2, seed=0):
    """depth orthogonal layers of gain `gain`, a normalizer after every `every`-th one (same weights for every norm)."""
    torch.manual_seed(seed)
    layers = []
    for i in range(depth):
        lin = nn.Linear(width, width, bias=False)
        nn.init.orthogonal_(lin.weight, gain=gain)
        layers.append(lin)
        if norm is not None and (i + 1) % every == 0:
            layers.append(norm(width))
    return nn.Sequential(*layers).eval()


x = torch.randn(4, 16, generator=torch.Generator().manual_seed(1))
norms = {"none": None, "LayerNorm": nn.LayerNorm, "IBLayerNorm(tanh, lam=1)": lambda w: IBLayerNorm(w, compression="tanh")}
print(f"{'depth':>5} {'normalizer':>26} {'log Lip lower':>14} {'log Lip upper':>14} {'depth*log g':>12}")
for depth in (2, 4):
    for name, norm in norms.items():
        est = estimate_lipschitz(chain(depth, 2.0, norm), x)
        up = math.log(est.upper) if math.isfinite(est.upper) else math.inf
        print(f"{depth:>5} {name:>26} {math.log(est.lower):>14.3f} {up:>14.3f} {depth * math.log(2.0):>12.3f}")''',
        "api_after": ("Without normalizers the bracket sits on depth * log g (the estimator is exact here). With "
                      "LayerNorm the constant no longer grows like g^depth: each normalizer divides by its input "
                      "standard deviation, which here grows like g^2 per block. The claims below test this law on "
                      "many architectures, gains and seeds, and in the converse regime (gain < 1) where it predicts "
                      "an increase."),
        "try": [("The reduction claim at gain 2 only (sigma > |gamma|, where the law predicts a reduction) and at gain "
                 "0.5 only (the converse regime):",
                 '''for gains in ("2", "0.5"):
    ev = verdict_of("cap.normalization-exponential-reduction", gains=gains)
    print(f"gains={gains}: {ev.verdict.value:12s} {primary_line(ev)}")'''),
                ("The depth-growth claim with the gain below 1: log Lip then falls with depth instead of growing.",
                 '''for gains in ("2", "0.5"):
    ev = verdict_of("cap.unnormalized-exponential-params", gains=gains)
    print(f"gains={gains}: {ev.verdict.value:12s} {primary_line(ev)}")''')],
    },
    "information": {
        "title": "IBNorm's information claims (arXiv 2510.25262): a guided tour",
        "intro": ("IBNorm compresses each value with a bounded function before it standardizes. The paper says this "
                  "keeps the information about the label while suppressing heavy-tailed nuisance, and that it "
                  "raises the information-bottleneck value. The claims measure mutual information with estimators "
                  "that are first checked against closed forms; `docs/papers/ibnorm.md` says what the paper states."),
        "claims": ["ib.standardization", "ib.nuisance-suppression", "ib.higher-ib-value",
                   "ib.tighter-generalization-bound"],
        "api_md": ("## 1. Estimate a mutual information you know\n\nFor a Gaussian pair with correlation rho, "
                   "I(X;Y) = -1/2 log(1 - rho^2) nats. `mutual_information(x, y)` (the package's default estimator; "
                   "`method=` picks another) returns the estimate with an uncertainty; compare with the truth. Then the layer itself: a heavy-tailed "
                   "(Student-t, 2 degrees of freedom) input through LayerNorm and through IBLayerNorm: the "
                   "compression bounds the tails (excess kurtosis of the output)."),
        "api": '''import math

import numpy as np
import torch
from torch import nn

from ibnorm import IBLayerNorm
from ibnorm_verify.verification.estimators.information import mutual_information

rng = np.random.default_rng(0)
print(f"{'rho':>5} {'true MI':>8} {'estimate':>9} {'+-':>6}  method")
for rho in (0.3, 0.6, 0.9):
    x = rng.standard_normal((2000, 1))
    y = rho * x + math.sqrt(1 - rho ** 2) * rng.standard_normal((2000, 1))
    est = mutual_information(x, y)
    print(f"{rho:>5} {-0.5 * math.log(1 - rho ** 2):>8.3f} {est.value:>9.3f} {est.uncertainty:>6.3f}  {est.method}")

u = torch.distributions.StudentT(2.0).sample((4000, 16))


def excess_kurtosis(t):
    z = (t - t.mean(0)) / t.std(0)
    return float((z ** 4).mean() - 3)


with torch.no_grad():
    for name, layer in (("LayerNorm", nn.LayerNorm(16, elementwise_affine=False)),
                        ("IBLayerNorm(tanh, lam=2)", IBLayerNorm(16, elementwise_affine=False, lam=2.0))):
        print(f"{name:>26}: excess kurtosis of the output {excess_kurtosis(layer(u)):8.2f}")''',
        "api_after": ("The estimator recovers the closed forms within its uncertainty (the claims only trust an "
                      "estimator after such checks: see the estimator-validation figure). LayerNorm keeps the "
                      "heavy tails of the input; the compression bounds them."),
        "try": [("The standardization claim with the order reversed (standardize first, then compress: the "
                 "paper's ablation): the output is no longer standardized, and the verdict must say so.",
                 '''for order in ("compress_first", "standardize_first"):
    ev = verdict_of("ib.standardization", order=order)
    print(f"order={order}: {ev.verdict.value:12s} {primary_line(ev)}")'''),
                ("Nuisance suppression with a compression that is almost the identity (lam -> 0 makes tanh(lam u)/lam "
                 "close to u): the primary quantity (the change of nuisance information) moves towards 0.",
                 '''for lams in ("2", "0.01"):
    ev = verdict_of("ib.nuisance-suppression", lams=lams)
    print(f"lams={lams}: {ev.verdict.value:12s} {primary_line(ev)}")''')],
    },
    "empirical": {
        "title": "Claims that need trained networks (both papers): a guided tour",
        "intro": ("Training statistics and a local generalization bound (2511.00958), and IBNorm's accuracy claim "
                  "(2510.25262), on small tasks with every method given the same tuning budget. Their verdicts rest "
                  "on paired differences over seeds."),
        "claims": ["cap.training-statistics", "cap.local-generalization-bound", "ib.empirical-performance"],
        "api_md": ("## 1. Put IBNorm into a model you have\n\n`convert_norms(model)` swaps every normalizer of a "
                   "model for its IBNorm version in place, keeping its configuration and weights. With the identity "
                   "compression the converted model computes exactly what it did; with `tanh` it compresses first. "
                   "Then a short training of both versions on a toy task with heavy-tailed inputs."),
        "api": '''import copy

import torch
from torch import nn

from ibnorm import IBLayerNorm, convert_norms

torch.manual_seed(0)
base = nn.Sequential(nn.Linear(8, 32), nn.LayerNorm(32), nn.ReLU(), nn.Linear(32, 2))
same, report = convert_norms(copy.deepcopy(base), compression="identity", return_report=True)
ib = convert_norms(copy.deepcopy(base), compression="tanh", lam=1.0)
print(report)
print(ib)
g = torch.Generator().manual_seed(1)
x = torch.distributions.StudentT(2.0).sample((1024, 8))
print("identity compression reproduces LayerNorm exactly:", torch.equal(base(x), same(x)))
y = (x[:, 0] + 0.5 * x[:, 1] + torch.randn(1024, generator=g) > 0).long()   # labels with noise
train_idx, test_idx = torch.arange(512), torch.arange(512, 1024)


def train(model, steps=100):
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x[train_idx]), y[train_idx])
        loss.backward()
        opt.step()
    with torch.no_grad():
        return loss.item(), (model(x[test_idx]).argmax(1) == y[test_idx]).float().mean().item()


for name, model in (("LayerNorm", copy.deepcopy(base)), ("IBLayerNorm(tanh)", ib)):
    loss, acc = train(model)
    print(f"{name:>18}: training loss {loss:.3f}, test accuracy {acc:.3f}")
assert any(isinstance(m, IBLayerNorm) for m in ib.modules())''',
        "api_after": ("One seed on a toy task says little: the claim below compares methods over seeds with paired "
                      "differences and the same learning-rate grid for every method."),
        "try": [("A refutation needs its preconditions. The same 200-step AdamW runs, first as they are, then with the "
                 "claim's plateau precondition switched on (the medium and full scales do this): the runs have not "
                 "finished learning, so the verdict can no longer be decided from them.",
                 '''for plateau in (False, True):
    ev = verdict_of("cap.training-statistics", require_plateau=plateau, optimizers="adamw", steps=200, width=8,
                    max_seeds=10)
    print(f"require_plateau={plateau}: {ev.verdict.value:12s} {primary_line(ev)}")''')],
    },
}


def build(name: str, spec: dict) -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    cells = [
        new_markdown_cell(f"# {spec['title']}\n\n{spec['intro']}\n\nThree parts: (1) the public API on a small "
                          "example you can change, (2) the claims' computed verdicts (supported / refuted / "
                          "inconclusive, with the reason) and figures, (3) *try this* cells that change a parameter "
                          "and re-run a claim."),
        new_code_cell(SETUP.format(claims=spec["claims"])),
        new_markdown_cell(spec["api_md"]),
        new_code_cell(spec["api"]),
        new_markdown_cell(spec["api_after"]),
        new_markdown_cell("## 2. The verdicts\n\nFrom the results of `make verify` when they exist, else a tiny-scale "
                          "run (its numbers exercise the code and are not evidence). One line per claim: the verdict, "
                          "the primary quantity with its 95% interval against the prediction, and where it holds; "
                          "then why, and for an undecided claim what would decide it."),
        new_code_cell(VERDICTS),
        new_markdown_cell("The figures, drawn from the same Evidence (nothing is recomputed):"),
        new_code_cell(FIGURES),
        new_markdown_cell("## 3. Try this\n\nEach cell re-runs one claim at the tiny scale with a changed parameter "
                          "(`--param KEY=VALUE` on the command line; `ibnorm-verify claims show ID` lists them all "
                          "with their domains) and prints the verdict before and after."),
    ]
    for text, code in spec["try"]:
        cells += [new_markdown_cell(text), new_code_cell(code)]
    nb.cells = cells
    for i, cell in enumerate(nb.cells):  # stable ids: regenerating leaves git diffs empty
        cell.id = f"{name}-{i}"
    return nb


def main() -> None:
    here = Path(__file__).resolve().parent
    for name, spec in FAMILIES.items():
        nbformat.write(build(name, spec), here / f"{name}.ipynb")


if __name__ == "__main__":
    main()

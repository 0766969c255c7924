"""Write the three walkthrough notebooks (outputs stripped) from one template.

    .venv/bin/python notebooks/make_notebooks.py

Each notebook runs its claim family through the public API (``ibnorm_verify.app.runner.run_claims``),
shows the verdict table and each claim's reason, and draws the family's figures through
``paper_figures``. ``IBNORM_NOTEBOOK_SCALE=tiny`` runs the smoke-test scale (what the tests do);
``IBNORM_NOTEBOOK_RESULTS=DIR`` puts the results and the claim cache in DIR (a re-run is then cached).
"""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

FAMILIES = {
    "capacity": {
        "title": "Exponential capacity control (arXiv 2511.00958)",
        "intro": ("Unnormalized deep nets can have Lipschitz constants exponential in depth; K normalization layers "
                  "divide them by about the product of their input standard deviations. The statements are our "
                  "reconstructions (the theorem texts were not available): see `shared/papers/capacity.md`."),
        "claims": ["cap.norm-jacobian", "cap.unnormalized-exponential-input", "cap.unnormalized-exponential-params",
                   "cap.normalization-exponential-reduction", "cap.loss-smoothness"],
        "figures": ["norm_jacobian", "lipschitz_depth", "reduction_k", "phase_diagram", "loss_smoothness",
                    "estimator_validation"],
        "explore": ("The converse regime: with gain < 1 the normalizers' input variances fall below |gamma| and the "
                    "same claim code must come out *not supported*:\n\n"
                    "```python\nev, _ = run_claims(RunConfig(claims=['cap.normalization-exponential-reduction'], "
                    "scale=SCALE, params={'gain': 0.5}, out=RESULTS / 'converse', quiet=True))\n```"),
    },
    "information": {
        "title": "IBNorm: information-theoretic claims (arXiv 2510.25262)",
        "intro": ("IBNorm compresses before it standardizes. These claims measure what that does to the information "
                  "a layer keeps about the label and about a heavy-tailed nuisance, with MI estimators that are "
                  "first validated against closed forms (the estimator-validation figure)."),
        "claims": ["ib.nuisance-suppression", "ib.higher-ib-value", "ib.tighter-generalization-bound"],
        "figures": ["nuisance", "information_plane", "ib_lambda", "estimator_validation"],
        "explore": ("The dependence on the estimator and the noise level: `ev.measured` holds the IB difference per "
                    "estimator and noise level s, and `ev.measured['sign_agreement']` says where they disagree:\n\n"
                    "```python\nby_id['ib.higher-ib-value'].measured['sign_agreement']\n```"),
    },
    "empirical": {
        "title": "Claims that need trained networks (both papers)",
        "intro": ("Training statistics and a local-Lipschitz generalization bound (2511.00958), and IBNorm's "
                  "accuracy claims with lambda sensitivity and ablations (2510.25262). Small synthetic tasks with "
                  "known structure; every method gets the same learning-rate grid."),
        "claims": ["cap.training-statistics", "cap.local-generalization-bound", "ib.empirical-performance"],
        "figures": ["training_statistics", "bound_gap", "accuracy"],
        "explore": ("The converse regime of the training statistics: strong weight decay shrinks the weights:\n\n"
                    "```python\nev, _ = run_claims(RunConfig(claims=['cap.training-statistics'], scale=SCALE, "
                    "params={'weight_decay': 0.5}, out=RESULTS / 'converse', quiet=True))\n```"),
    },
}

SETUP = '''import os
import tempfile
from pathlib import Path

from IPython.display import Image, Markdown, display

import ibnorm_verify.paper_figures as pf
from ibnorm_verify.app.report import verdict_table
from ibnorm_verify.app.runner import RunConfig, run_claims

# quick (default) is the CPU-minutes evidence scale; the tests set IBNORM_NOTEBOOK_SCALE=tiny (a smoke test:
# its numbers are not evidence)
SCALE = os.environ.get("IBNORM_NOTEBOOK_SCALE", "quick")
RESULTS = Path(os.environ.get("IBNORM_NOTEBOOK_RESULTS") or tempfile.mkdtemp(prefix="ibnorm-notebook-"))
CLAIMS = {claims!r}
FIGURES = {figures!r}
print(f"scale={{SCALE}}, results and cache in {{RESULTS}}")'''

RUN = '''evidence, meta = run_claims(RunConfig(claims=CLAIMS, scale=SCALE, out=RESULTS, quiet=True))
by_id = {ev.claim_id: ev for ev in evidence}
display(Markdown(verdict_table(evidence)))'''

WHY = '''for ev in evidence:
    display(Markdown(f"**`{ev.claim_id}`** ({ev.provenance}): **{ev.verdict.value}**. {ev.reason}"))'''

FIGS = '''run = pf.make_all(evidence, RESULTS / "figures", FIGURES)
print(run.summary())
for png in run.pngs():
    display(Image(filename=str(png)))
if run.failed:  # a figure whose claim produced no usable arrays is an error, not a blank plot
    raise RuntimeError(f"figures not made: {run.failed}")'''


def build(name: str, spec: dict) -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [
        new_markdown_cell(f"# {spec['title']}\n\n{spec['intro']}\n\nThis notebook runs the claims through the public "
                          "API, shows their computed verdicts (supported / refuted / inconclusive, with the reason) "
                          "and draws their figures with `paper_figures` from the same Evidence. Set "
                          "`IBNORM_NOTEBOOK_SCALE=tiny` for a smoke test."),
        new_code_cell(SETUP.format(claims=spec["claims"], figures=spec["figures"])),
        new_markdown_cell("## Run the claims and read the verdicts"),
        new_code_cell(RUN),
        new_code_cell(WHY),
        new_markdown_cell("## Figures"),
        new_code_cell(FIGS),
        new_markdown_cell("## Explore\n\n" + spec["explore"]),
    ]
    for i, cell in enumerate(nb.cells):  # stable ids: regenerating leaves git diffs empty
        cell.id = f"{name}-{i}"
    return nb


def main() -> None:
    here = Path(__file__).resolve().parent
    for name, spec in FAMILIES.items():
        nbformat.write(build(name, spec), here / f"{name}.ipynb")


if __name__ == "__main__":
    main()

"""The import graph of the two distributions: floors only point down, and no module imports itself back.

Floors, bottom to top: ``ibnorm`` (the layers) < ``ibnorm_verify.theory`` < ``ibnorm_verify.verification``
< ``ibnorm_verify.paper_figures`` < ``ibnorm_verify.app`` < ``ibnorm_verify`` (the package root and its
``__main__``). Every import is counted, including imports inside functions: a function-local import
does not make a cycle go away, it only hides it. The graph is read from the source with ``ast``, so
the test sees exactly what the files say.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"ibnorm": ROOT / "layer" / "ibnorm", "ibnorm_verify": ROOT / "ibnorm_verify"}
FLOORS = ("ibnorm", "ibnorm_verify.version", "ibnorm_verify.theory", "ibnorm_verify.verification", "ibnorm_verify.paper_figures",
          "ibnorm_verify.app", "ibnorm_verify")


def _modules() -> dict[str, Path]:
    mods = {}
    for top, path in PACKAGES.items():
        for f in sorted(path.rglob("*.py")):
            rel = f.relative_to(path).with_suffix("")
            parts = [top, *rel.parts]
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join(parts)] = f
    return mods


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES.get(name, Path()).name == "__init__.py"


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    if not _is_package(module):
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str, path: Path) -> set[str]:
    """The project modules ``module`` imports (a ``from pkg import sub`` of a submodule counts as ``pkg.sub``)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node)
            names = [f"{target}.{a.name}" if f"{target}.{a.name}" in MODULES else target for a in node.names]
        else:
            continue
        for n in names:
            while n and n not in MODULES:
                n = n.rpartition(".")[0]
            if n and n != module:
                out.add(n)
    return out


GRAPH = {m: _imports(m, p) for m, p in MODULES.items()}


def _floor(module: str) -> int:
    best = -1
    for i, prefix in enumerate(FLOORS):
        if module == prefix or module.startswith(prefix + "."):
            if best < 0 or len(prefix) > len(FLOORS[best]):
                best = i
    return best


def _is_ancestor_package(a: str, b: str) -> bool:
    return b.startswith(a + ".")


def upward_imports() -> set[tuple[str, str]]:
    return {(m, t) for m, ts in GRAPH.items() for t in ts if _floor(t) > _floor(m)}


def cycles() -> set[tuple[str, ...]]:
    """Strongly connected components with more than one module, ignoring a package's own ``__init__``
    importing its children (that edge points down by definition)."""
    graph = {m: {t for t in ts if not _is_ancestor_package(t, m)} for m, ts in GRAPH.items()}
    index, low, stack, on, out, counter = {}, {}, [], set(), set(), [0]

    def visit(v):  # Tarjan, iterative enough for this graph's depth
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.add(tuple(sorted(comp)))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_the_graph_sees_the_packages():
    assert "ibnorm.functional" in MODULES and "ibnorm_verify.verification.verdict" in MODULES
    assert "ibnorm.compression" in GRAPH["ibnorm.functional"]


def test_floors_only_point_down():
    bad = sorted(upward_imports())
    assert not bad, "upward imports (module -> imported module on a higher floor):\n" + "\n".join(
        f"  {a} -> {b}" for a, b in bad)


def test_no_import_cycles():
    found = sorted(cycles())
    assert not found, "import cycles:\n" + "\n".join("  " + " <-> ".join(c) for c in found)


def test_the_checker_catches_an_upward_import_and_a_cycle(monkeypatch):
    fake = dict(GRAPH)
    fake["ibnorm.functional"] = GRAPH["ibnorm.functional"] | {"ibnorm_verify.app.cli"}
    fake["ibnorm.compression"] = GRAPH["ibnorm.compression"] | {"ibnorm.functional"}
    monkeypatch.setattr(__import__(__name__), "GRAPH", fake)
    assert ("ibnorm.functional", "ibnorm_verify.app.cli") in upward_imports()
    assert any("ibnorm.compression" in c and "ibnorm.functional" in c for c in cycles())


@pytest.mark.parametrize("module", ["ibnorm", "ibnorm.nn", "ibnorm.functional"])
def test_the_layers_do_not_import_the_suite(module):
    assert not {t for t in GRAPH[module] if t.startswith("ibnorm_verify")}


#: a claim module holds one claim: its items, worker, analysis and declaration (shared parts live in
#: the ``_*.py`` helpers beside it)
MAX_CLAIM_MODULE_LINES = 350


def test_claim_modules_stay_small():
    claims = ROOT / "ibnorm_verify" / "verification" / "claims"
    sizes = {p.name: len(p.read_text().splitlines()) for p in claims.glob("*.py")}
    assert len(sizes) > 12
    too_long = {name: n for name, n in sizes.items() if n > MAX_CLAIM_MODULE_LINES}
    assert not too_long, f"claim modules over {MAX_CLAIM_MODULE_LINES} lines (split them): {too_long}"

"""Every repository path that a docstring, comment, document or report template cites exists.

A path is a token that starts with one of the repository's top-level folders (``docs/``, ``layer/``,
``ibnorm_verify/``, ``tests/``, ``benchmarks/``, ``notebooks/``, ``.ci/``) in any ``.py``, ``.md``, ``.toml``,
``.cfg`` file or the Makefile, that names a file (its last part has an extension) or a folder (it ends
in ``/``): ``layer/rms/group`` is prose, not a path. Globs, templates and elisions (``*``, ``{``, ``<``,
``...``) are skipped. A Markdown file's relative links resolve from its own folder too. Nothing outside
the repository may be cited (``../shared``).
"""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOP = ("docs", "layer", "ibnorm_verify", "tests", "benchmarks", "notebooks", ".ci")
PATH = re.compile(r"(?<![\w./~-])((?:%s)/[\w./-]*[\w/])" % "|".join(re.escape(t) for t in TOP))
SKIP_DIRS = {".git", ".venv", "build", "dist", "results", "__pycache__", ".mypy_cache", ".ruff_cache",
             ".pytest_cache", ".hypothesis"}
SUFFIXES = {".py", ".md", ".toml", ".cfg", ".txt"}


def _files() -> list[Path]:
    out = []
    for p in ROOT.rglob("*"):
        rel = p.relative_to(ROOT)
        if any(part in SKIP_DIRS or part.endswith(".egg-info") for part in rel.parts[:-1]):
            continue
        if p.is_file() and (p.suffix in SUFFIXES or p.name in ("Makefile", "run")):
            out.append(p)
    return out


def _is_path(token: str) -> bool:
    return "..." not in token and (token.endswith("/") or "." in token.rsplit("/", 1)[-1])


def cited_paths(text: str) -> list[str]:
    return [m.group(1) for m in PATH.finditer(text)
            if _is_path(m.group(1)) and not re.search(r"[*{<]", text[m.start():m.end() + 1])]


def test_the_scanner_finds_paths():
    assert cited_paths("see docs/papers/capacity.md, and `tests/app/`.") == ["docs/papers/capacity.md", "tests/app/"]
    assert cited_paths("x/docs/a.md and docs/*.md, layer/rms/group, tests/.../t.py") == []


def test_every_cited_path_exists():
    missing = {}
    for f in _files():
        if f == Path(__file__).resolve():
            continue
        text = f.read_text(errors="replace")
        for path in cited_paths(text):
            if not (ROOT / path).exists() and not (f.suffix == ".md" and (f.parent / path).exists()):
                missing.setdefault(str(f.relative_to(ROOT)), []).append(path)
    assert not missing, f"cited paths that do not exist: {missing}"


def test_nothing_outside_the_repository_is_cited():
    bad = [str(f.relative_to(ROOT)) for f in _files() if f != Path(__file__).resolve()
           and re.search(r"\.\./shared|\bDESIGN\.md\b", f.read_text(errors="replace"))]
    assert not bad, f"files citing ../shared or DESIGN.md (not part of the project): {bad}"

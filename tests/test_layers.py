"""The house rules: data flows one way through the stages, and the early stages stay free of torch.

Every import in `midigan/` counts, including those inside functions and under TYPE_CHECKING: a
lazy import that points upward is still a cycle a reader has to hold in their head.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "midigan"

# The stages, earliest first. A module may import its own sub-package or an earlier stage.
STAGES: list[tuple[str, ...]] = [
    ("errors",),
    ("music",),
    ("io",),
    ("representations",),
    ("corpus",),
    ("model",),
    ("train", "composer"),
    ("evaluate",),
    ("cli",),
]
RANK = {part: i for i, parts in enumerate(STAGES) for part in parts}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The midigan modules `path` imports, wherever the import statement stands."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    modules = {_module_name(p) for p in PACKAGE.rglob("*.py")}
    return {m for m in found if m in modules and m != name}


GRAPH = {_module_name(p): _imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def _stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_module_belongs_to_a_stage():
    """The top of midigan/ holds only __init__.py and errors.py; everything else sits in a stage."""
    loose = [m for m in GRAPH if m != "midigan" and _stage(m) not in RANK]
    assert loose == []


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_point_only_to_earlier_stages(module):
    if module == "midigan":
        return  # the lazy top level names its exports as strings, it imports none of them
    stage = _stage(module)
    upward = [
        target
        for target in GRAPH[module]
        if target != "midigan" and _stage(target) != stage and RANK[_stage(target)] >= RANK[stage]
    ]
    assert upward == [], f"{module} imports a later (or sibling) stage"


def test_there_are_no_import_cycles():
    """Tarjan's strongly connected components over every import: none larger than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in GRAPH:
        if v not in index:
            visit(v)
    assert cycles == []


@pytest.mark.parametrize(
    "module",
    ["midigan", "midigan.io", "midigan.representations", "midigan.corpus.manifest", "midigan.corpus.stats"],
)
def test_early_stages_do_not_import_torch(module):
    """Reading music, converting it and describing a corpus must not pay torch's start-up."""
    code = f"import sys, {module}; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

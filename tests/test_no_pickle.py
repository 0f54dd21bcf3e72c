"""No pickle anywhere: a file from the internet must not be able to run code when midigan reads it.

Checkpoints are safetensors + JSON, dataset caches are `.npz` read with `allow_pickle=False`.
This test reads every module of the package and refuses the calls that unpickle.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "midigan"
UNPICKLING_MODULES = {"pickle", "cPickle", "dill", "joblib", "shelve", "marshal"}


def _offences(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] in UNPICKLING_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in UNPICKLING_MODULES:
            found.append(f"from {node.module}")
        elif isinstance(node, ast.Call):
            name = ast.unparse(node.func)
            if name in ("torch.load", "torch.jit.load", "pd.read_pickle", "pandas.read_pickle"):
                found.append(name)
            for keyword in node.keywords:
                value = keyword.value
                if keyword.arg == "allow_pickle" and not (
                    isinstance(value, ast.Constant) and value.value is False
                ):
                    found.append(f"{name}(allow_pickle={ast.unparse(value)})")
    return found


def test_no_module_of_midigan_unpickles() -> None:
    offences = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        found = _offences(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        if found:
            offences[str(path.relative_to(PACKAGE.parent))] = found
    assert offences == {}


def test_the_scan_sees_what_it_refuses() -> None:
    source = "\n".join(
        ["import pickle", "import torch", "torch.load('m.pt')", "np.load('a.npz', allow_pickle=True)"]
    )
    assert _offences(ast.parse(source)) == ["pickle", "torch.load", "np.load(allow_pickle=True)"]

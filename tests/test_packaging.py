"""What `pip install .` puts in the wheel: every shipped model file, not only the editable tree's."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_package_data_covers_every_file_of_the_shipped_models() -> None:
    """A file under midigan/pretrained/ that no package-data pattern names would be missing from a
    regular install (an editable one hides it): the velocity model once was."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = setuptools["package-data"]["midigan"]
    package = ROOT / "midigan"
    covered = {path for pattern in patterns for path in package.glob(pattern) if path.is_file()}
    shipped = {p for p in (package / "pretrained").rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert shipped, "no shipped model files found"
    assert sorted(str(p.relative_to(package)) for p in shipped - covered) == []
    for needed in ("pretrained/model.safetensors", "pretrained/dynamics/dynamics.safetensors",
                   "pretrained/mle/dynamics/dynamics.json"):  # fmt: skip
        assert package / needed in covered, needed

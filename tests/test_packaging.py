"""What `pip install .` gives must be enough to run: every third-party module the package
imports is a runtime dependency, not only a test extra (the test venv would hide it)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imported_top_level_modules() -> set[str]:
    found = set()
    for path in (ROOT / "crmkit").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m != "crmkit"}


def runtime_requirements() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = set()
    for requirement in project["dependencies"]:
        name = re.match(r"[A-Za-z0-9_.-]+", requirement)
        assert name
        names.add(name.group(0).lower().replace("_", "-"))
    return names


def test_every_imported_package_is_a_runtime_dependency() -> None:
    distributions = packages_distributions()
    declared = runtime_requirements()
    missing = []
    for module in sorted(imported_top_level_modules()):
        owners = {d.lower().replace("_", "-") for d in distributions.get(module, [module])}
        if not owners & declared:
            missing.append(f"{module} (from {sorted(owners)})")
    assert not missing, f"imported but not in [project] dependencies: {missing}"

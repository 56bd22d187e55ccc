"""The benchmarks still speak the library's current API.

Benchmarks are not run in CI (they take minutes to hours and some read ../shared/data), so a
refactor that renames a function leaves them broken until someone runs them: ``bench_audit make``
called ``runtime.build.make_lineage`` for a whole release after populations replaced it. This test
reads every ``benchmarks/*.py`` and checks that every name it imports from ``redqueen``, at module
level or inside a function, exists.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
FILES = sorted(BENCH.glob("*.py"))


def _imports(path: Path) -> list[tuple[int, str, str | None]]:
    """``(line, module, name)`` for every ``from redqueen... import name`` and ``import redqueen...``."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "redqueen":
            out += [(node.lineno, node.module, a.name) for a in node.names]
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name, None) for a in node.names if a.name.split(".")[0] == "redqueen"]
    return out


def _module_attributes(path: Path) -> list[tuple[int, str, str]]:
    """``(line, module, attribute)`` for every ``alias.attribute`` where ``alias`` is a redqueen module
    bound by ``from redqueen.x import module`` or ``import redqueen.x as alias``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "redqueen":
            for a in node.names:
                try:
                    importlib.import_module(f"{node.module}.{a.name}")
                except ImportError:
                    continue
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
        elif isinstance(node, ast.Import):
            aliases.update({a.asname: a.name for a in node.names if a.asname and a.name.startswith("redqueen")})
    return [(n.lineno, aliases[n.value.id], n.attr) for n in ast.walk(tree)
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id in aliases]


def test_there_are_benchmarks_to_check():
    assert len(FILES) >= 10 and sum(len(_imports(f)) for f in FILES) >= 20


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_benchmark_imports_exist(path):
    missing = []
    for line, module, name in _imports(path):
        try:
            mod = importlib.import_module(module)
        except ImportError as e:
            missing.append(f"{path.name}:{line}: import {module} ({e})")
            continue
        if name is not None and name != "*" and not hasattr(mod, name):
            try:
                importlib.import_module(f"{module}.{name}")
            except ImportError:
                missing.append(f"{path.name}:{line}: {module} has no {name}")
    for line, module, attr in _module_attributes(path):
        if not hasattr(importlib.import_module(module), attr):
            missing.append(f"{path.name}:{line}: {module} has no {attr}")
    assert not missing, "\n".join(missing)


def test_the_check_would_catch_a_renamed_function(tmp_path):
    bad = tmp_path / "bench_bad.py"
    bad.write_text("def make():\n    from redqueen.runtime.build import make_lineage\n")
    (line, module, name), = _imports(bad)
    assert not hasattr(importlib.import_module(module), name)
    bad.write_text("from redqueen.runtime import build\n\ndef make():\n    return build.make_lineage\n")
    (line, module, attr), = _module_attributes(bad)
    assert (module, attr) == ("redqueen.runtime.build", "make_lineage")

"""The house rules that can be read off the source with `ast` (ARCHITECTURE.md, rules 1 and 6).

Every import is found, wherever it sits (module level, inside a function, under TYPE_CHECKING),
and relative imports are resolved to absolute module names before they are judged.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("terminology", "codesystems")

# Layers inside terminology/, lowest first: a module may import its own layer or lower ones.
LAYERS = {
    "terminology.model": 0,
    "terminology.clock": 0,
    "terminology.errors": 0,
    "terminology.heap": 0,
    "terminology.numbers": 0,
    "terminology.concepts": 1,
    "terminology.status": 1,
    "terminology.provider": 1,
    "terminology.store": 1,
    "terminology.registry": 2,
    "terminology.memory": 2,
    "terminology.valuesets": 2,
    "terminology.operations": 3,
    "terminology.fhir": 4,
    "terminology.web": 5,
}


def module_files() -> list[Path]:
    files = [p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))]
    assert files, "no modules found"
    return files


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Absolute names of every module `path` imports (`from a import b` gives a and a.b)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__":
            if node.args and isinstance(node.args[0], ast.Constant):
                found.add(str(node.args[0].value))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "import_module" and node.args
              and isinstance(node.args[0], ast.Constant)):
            found.add(str(node.args[0].value))
    return found


def hits(imported: set[str], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(m for m in imported if any(m == f or m.startswith(f + ".") for f in forbidden))


def files_under(*parts: str) -> list[Path]:
    folder = ROOT.joinpath(*parts)
    return sorted(folder.rglob("*.py")) if folder.exists() else []


def ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(ROOT)) for p in paths]


# -- sanity of the checker itself -------------------------------------------------------------


def test_checker_resolves_relative_and_nested_imports(tmp_path, monkeypatch):
    package = tmp_path / "terminology" / "operations"
    package.mkdir(parents=True)
    module = package / "sample.py"
    module.write_text(
        '"""x"""\n'
        "from ..store import Store\n"
        "from . import common\n"
        "def f():\n"
        "    import flask\n"
        "    from marshmallow import Schema\n"
        "    __import__('sqlite3')\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    found = imports_of(module)
    assert {"terminology.store", "terminology.store.Store", "terminology.operations.common",
            "flask", "marshmallow", "sqlite3"} <= found
    assert hits(found, ("flask", "sqlite3")) == ["flask", "sqlite3"]


# -- the rules -------------------------------------------------------------------------------


ENGINE = [p for p in files_under("terminology") if "web" not in p.relative_to(ROOT).parts]


@pytest.mark.parametrize("path", ENGINE, ids=ids(ENGINE))
def test_engine_imports_no_server_codesystems_or_flask(path):
    assert hits(imports_of(path), ("server", "codesystems", "flask", "werkzeug")) == []


WEB = files_under("terminology", "web")


@pytest.mark.parametrize("path", WEB, ids=ids(WEB))
def test_web_layer_imports_no_server_or_codesystems(path):
    assert hits(imports_of(path), ("server", "codesystems")) == []


OPERATIONS = files_under("terminology", "operations")


@pytest.mark.parametrize("path", OPERATIONS, ids=ids(OPERATIONS))
def test_operations_have_no_sql_flask_or_marshmallow(path):
    forbidden = ("sqlite3", "flask", "werkzeug", "marshmallow", "terminology.store",
                 "terminology.fhir", "terminology.web")
    assert hits(imports_of(path), forbidden) == []


CODESYSTEMS = files_under("codesystems")


@pytest.mark.parametrize("path", CODESYSTEMS, ids=ids(CODESYSTEMS))
def test_codesystems_use_only_the_engine_core(path):
    forbidden = ("terminology.web", "terminology.fhir", "terminology.operations", "flask",
                 "werkzeug", "marshmallow", "server")
    imported = imports_of(path)
    assert hits(imported, forbidden) == []
    # "codesystems/ uses model, provider, store only" (and errors, to raise ImportFailed, and
    # clock, for the day a date-dependent fact is for; numbers, to read a number)
    core = ("terminology.model", "terminology.errors", "terminology.clock",
            "terminology.numbers", "terminology.provider", "terminology.store")
    engine = [m for m in imported if m == "terminology" or m.startswith("terminology.")]
    assert [m for m in engine if not hits({m}, core)] == []


def layer(module: str) -> int | None:
    best = None
    for prefix, rank in LAYERS.items():
        if module == prefix or module.startswith(prefix + "."):
            best = rank
    return best


TERMINOLOGY = files_under("terminology")


@pytest.mark.parametrize("path", TERMINOLOGY, ids=ids(TERMINOLOGY))
def test_dependency_direction_inside_the_engine(path):
    """model/errors <- provider/store <- registry/memory/valuesets <- operations <- fhir <- web."""
    own = layer(module_name(path))
    if own is None:
        return  # terminology/__init__.py and modules outside the map
    upward = [m for m in imports_of(path) if (layer(m) or 0) > own]
    assert upward == [], f"{module_name(path)} (layer {own}) imports {upward}"


def test_sql_only_in_the_store():
    """Rule 4: sqlite3 is imported only under terminology/store/."""
    offenders = [str(p.relative_to(ROOT)) for p in module_files()
                 if hits(imports_of(p), ("sqlite3",))
                 and "store" not in p.relative_to(ROOT).parts]
    assert offenders == []


@pytest.mark.parametrize("path", module_files(), ids=ids(module_files()))
def test_every_module_has_a_docstring(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstring = ast.get_docstring(tree)
    assert docstring and docstring.strip(), f"{path.relative_to(ROOT)} has no module docstring"


@pytest.mark.parametrize("path", module_files(), ids=ids(module_files()))
def test_future_annotations(path):
    """Rule 6: modules with code open with `from __future__ import annotations`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    body = [n for n in tree.body if not (isinstance(n, ast.Expr)
                                         and isinstance(n.value, ast.Constant))]
    if not body:
        return  # a docstring-only package marker
    futures = [n for n in body if isinstance(n, ast.ImportFrom) and n.module == "__future__"]
    assert any(a.name == "annotations" for n in futures for a in n.names), (
        f"{path.relative_to(ROOT)} lacks `from __future__ import annotations`")

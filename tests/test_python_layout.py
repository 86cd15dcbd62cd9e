"""The layout of the Python package, by rule.

- lossext/losses/<x>.py is a fused family: its ``SPECS`` (the ops), then its
  public functions, then its nn modules, in that order.
- lossext/reference/<x>.py is the oracle of a family of lossext/losses/ or of a
  catalog module of lossext/functional/, and every family has one. It imports
  nothing of what it checks (losses, functional, nn, _ops).
- lossext/_ops/ holds the shared machinery only; a family module there, or one
  of the same name in lossext/functional/ or lossext/nn/, would be a second
  home for the family.
"""

import ast
import importlib
import inspect
import pathlib
import pkgutil

import pytest

import lossext
from lossext._exports import is_module_class
from lossext._ops._spec import OpSpec
from lossext.losses import family_modules

PACKAGE = pathlib.Path(lossext.__file__).parent


def public_stems(folder):
    return {
        info.name for info in pkgutil.iter_modules([str(PACKAGE / folder)]) if not info.name.startswith("_")
    }


FAMILIES = sorted(public_stems("losses"))


def test_the_rule_has_families_to_check():
    assert len(FAMILIES) >= 7
    assert [module.__name__ for module in family_modules()] == [f"lossext.losses.{name}" for name in FAMILIES]


@pytest.mark.parametrize("name", FAMILIES)
def test_a_family_declares_its_ops_then_its_functions_then_its_modules(name):
    module = importlib.import_module(f"lossext.losses.{name}")
    specs = getattr(module, "SPECS", None)
    assert isinstance(specs, tuple) and specs, f"lossext/losses/{name}.py has no SPECS"
    assert all(isinstance(spec, OpSpec) for spec in specs)
    own = {
        key: obj
        for key, obj in vars(module).items()
        if not key.startswith("_") and callable(obj) and getattr(obj, "__module__", None) == module.__name__
    }
    functions = [obj for obj in own.values() if not is_module_class(obj)]
    classes = [obj for obj in own.values() if is_module_class(obj)]
    assert functions, f"lossext/losses/{name}.py defines no public function"
    source = inspect.getsource(module)
    specs_line = next(i for i, line in enumerate(source.splitlines(), 1) if line.startswith("SPECS = "))
    first_function = min(inspect.getsourcelines(fn)[1] for fn in functions)
    assert specs_line < first_function, f"lossext/losses/{name}.py: the public functions come after SPECS"
    if classes:
        last_function = max(inspect.getsourcelines(fn)[1] for fn in functions)
        first_class = min(inspect.getsourcelines(cls)[1] for cls in classes)
        assert last_function < first_class, (
            f"lossext/losses/{name}.py: the nn modules come after the functions"
        )


def test_every_reference_module_mirrors_a_family_or_a_catalog_module():
    catalog = {name for name in public_stems("functional") if name.startswith("catalog_")}
    references = public_stems("reference")
    orphans = references - set(FAMILIES) - catalog
    assert not orphans, f"lossext/reference/<x>.py mirroring no family or catalog module: {sorted(orphans)}"
    missing = (set(FAMILIES) | catalog) - references
    assert not missing, f"families or catalog modules without lossext/reference/<x>.py: {sorted(missing)}"


def test_a_family_has_one_home():
    assert not public_stems("_ops"), "lossext/_ops/ holds the shared machinery only (private modules)"
    for folder in ("functional", "nn"):
        twins = public_stems(folder) & set(FAMILIES)
        assert not twins, (
            f"lossext/{folder}/ has modules named as families of lossext/losses/: {sorted(twins)}"
        )


CHECKED_CODE = ("lossext.losses", "lossext.functional", "lossext.nn", "lossext._ops")


def imported_modules(path):
    """The absolute module names PATH imports (``from lossext import nn`` counts as lossext.nn)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    return found


@pytest.mark.parametrize("name", sorted(public_stems("reference")))
def test_the_oracle_imports_nothing_of_what_it_checks(name):
    imported = imported_modules(PACKAGE / "reference" / f"{name}.py")
    shared = sorted(m for m in imported if any(m == c or m.startswith(c + ".") for c in CHECKED_CODE))
    assert not shared, f"lossext/reference/{name}.py imports the code it checks: {shared}"


def test_the_import_check_sees_both_spellings(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("from lossext import nn\nimport lossext.losses.box\nfrom torch import nn as tnn\n")
    assert {"lossext.nn", "lossext.losses.box", "torch.nn"} <= imported_modules(probe)

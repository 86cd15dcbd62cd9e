"""The public name lists are derived from the modules (lossext/_exports.py);
here they are held to agree with each other."""

import inspect

import torch

import lossext
from lossext import functional, nn, reference
from lossext._exports import export_modules, is_module_class
from lossext.losses import family_modules

# Reference functions the oracle is built from, with no public twin.
ORACLE_BUILDING_BLOCKS = {"box_pair_loss", "overlap_sums", "to_xyxy"}


def _parameters(fn):
    return list(inspect.signature(fn).parameters)


def test_every_public_function_has_a_reference_of_the_same_name_and_parameters():
    missing = [name for name in functional.__all__ if name not in reference.__all__]
    assert not missing, f"functions without a reference: {missing}"
    differ = [
        name
        for name in functional.__all__
        if _parameters(getattr(functional, name)) != _parameters(getattr(reference, name))
    ]
    assert not differ, f"reference parameters differ from the public function's: {differ}"


def test_the_reference_has_no_function_without_a_public_twin_but_its_building_blocks():
    assert set(reference.__all__) - set(functional.__all__) == ORACLE_BUILDING_BLOCKS


def test_every_public_function_is_exported_at_top_level():
    assert set(functional.__all__) <= set(lossext.__all__)
    for name in functional.__all__:
        assert getattr(lossext, name) is getattr(functional, name)


def test_nn_exports_exactly_the_module_classes_its_modules_and_the_families_define():
    import importlib
    import pkgutil

    modules = [
        importlib.import_module(f"lossext.nn.{info.name}") for info in pkgutil.iter_modules(nn.__path__)
    ]
    defined = set()
    for module in modules + family_modules():
        defined |= {
            name
            for name, obj in vars(module).items()
            if not name.startswith("_")
            and isinstance(obj, type)
            and issubclass(obj, torch.nn.Module)
            and obj.__module__ == module.__name__
        }
    assert defined == set(nn.__all__)


def test_functional_exports_no_module_class_and_nn_no_function():
    assert not [name for name in functional.__all__ if isinstance(getattr(functional, name), type)]
    assert all(isinstance(getattr(nn, name), type) for name in nn.__all__)


def test_exports_are_unique_and_bound():
    for package in (functional, reference, nn):
        assert len(package.__all__) == len(set(package.__all__)), package.__name__
        for name in package.__all__:
            assert callable(getattr(package, name)), f"{package.__name__}.{name}"


def test_a_new_module_is_exported_and_a_clash_is_refused(tmp_path, monkeypatch):
    pkg = tmp_path / "pkg_exports_probe"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "alpha.py").write_text("def loss_a(x):\n    return x\n\n\ndef _helper():\n    pass\n")
    (pkg / "beta.py").write_text("from math import sqrt\n\n\ndef loss_b(x):\n    return x\n")
    (pkg / "_private.py").write_text("def hidden(x):\n    return x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    namespace = {}
    assert export_modules("pkg_exports_probe", [str(pkg)], namespace) == ["loss_a", "loss_b"]
    assert "sqrt" not in namespace and "hidden" not in namespace
    (pkg / "gamma.py").write_text("def loss_a(x):\n    return -x\n")
    try:
        export_modules("pkg_exports_probe", [str(pkg)], {})
    except ImportError as err:
        assert "loss_a" in str(err)
    else:
        raise AssertionError("two modules exporting loss_a were accepted")


def test_modules_given_in_also_are_sorted_in_and_keep_selects_the_kind(tmp_path, monkeypatch):
    pkg, fam = tmp_path / "pkg_also_probe", tmp_path / "fam_also_probe"
    for folder in (pkg, fam):
        folder.mkdir()
        (folder / "__init__.py").write_text("")
    (pkg / "alpha.py").write_text("def loss_a(x):\n    return x\n")
    (pkg / "zeta.py").write_text("def loss_z(x):\n    return x\n")
    (fam / "middle.py").write_text(
        "import torch\n\n\ndef loss_m(x):\n    return x\n\n\nclass MLoss(torch.nn.Module):\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    middle = importlib.import_module("fam_also_probe.middle")
    functions = export_modules(
        "pkg_also_probe", [str(pkg)], {}, also=[middle], keep=lambda obj: not is_module_class(obj)
    )
    assert functions == ["loss_a", "loss_m", "loss_z"]
    classes = export_modules("pkg_also_probe", [str(pkg)], {}, also=[middle], keep=is_module_class)
    assert classes == ["MLoss"]

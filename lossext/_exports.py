"""`__all__` of the public packages (functional, reference, nn), derived from
their modules rather than kept as a second list of the same names by hand.

Every module of such a package whose name has no leading underscore is part
of it; it exports its ``__all__`` when it defines one, else the functions and
classes it defines itself (or binds as an alias of one of them) whose names
have no leading underscore. A new module is picked up without editing the
package's ``__init__.py``.

A fused family (lossext/losses/<x>.py) keeps its public functions and its
nn modules in one module, so functional and nn both export from those
modules too (``also``), each keeping its own kind (``keep``): functional the
functions, nn the nn.Module classes."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Callable

import torch


def module_exports(module) -> list[str]:
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return [
        name
        for name, obj in vars(module).items()
        if not name.startswith("_") and callable(obj) and getattr(obj, "__module__", None) == module.__name__
    ]


def is_module_class(obj) -> bool:
    return isinstance(obj, type) and issubclass(obj, torch.nn.Module)


def is_function(obj) -> bool:
    return not is_module_class(obj)


def export_modules(
    package: str, path, namespace: dict, also=(), keep: Callable[[object], bool] | None = None
) -> list[str]:
    """Imports the public modules of ``package`` (found on ``path``), binds
    what each exports in ``namespace`` (the package's globals) and returns
    the names, module by module in alphabetical order of module name.
    ``also``: further modules (imported) exported the same way, sorted in
    among them by name; ``keep``: when given, only the objects it accepts
    are exported. Two modules exporting different objects under one name is
    an error."""
    own = [
        importlib.import_module(f"{package}.{info.name}")
        for info in pkgutil.iter_modules(path)
        if not info.name.startswith("_")
    ]
    names: list[str] = []
    for module in sorted([*own, *also], key=lambda module: module.__name__.rsplit(".", 1)[-1]):
        for name in module_exports(module):
            obj = getattr(module, name)
            if keep is not None and not keep(obj):
                continue
            if name in namespace and name in names and namespace[name] is not obj:
                raise ImportError(f"{package}: {name} is exported by {module.__name__} and an earlier module")
            namespace[name] = obj
            if name not in names:
                names.append(name)
    return names

"""The fused loss families, one module each: the family's ops described as
data (``SPECS``, see lossext/_ops/_spec.py), then its public functions, then
its nn modules. Nothing here is listed by hand: lossext._ops registers the
SPECS of every module, lossext.functional exports their functions and
lossext.nn their module classes (lossext/_exports.py). The oracle of each
family stays in lossext/reference/, apart from the code it checks."""

import importlib
import pkgutil


def family_modules() -> list:
    """Every family module of this package (each module without a leading
    underscore), imported, in alphabetical order."""
    return [
        importlib.import_module(f"{__name__}.{info.name}")
        for info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name)
        if not info.name.startswith("_")
    ]

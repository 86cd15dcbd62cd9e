"""`__all__` of the public packages, derived from what they import instead of
a second hand-kept list of the same names (which drifted)."""


def public_names(namespace: dict, package: str) -> list:
    """The functions and classes a package defines in its own modules, in
    import order; helpers (leading underscore) and re-exported torch names are
    left out."""
    return [
        name
        for name, obj in namespace.items()
        if not name.startswith("_")
        and callable(obj)
        and getattr(obj, "__module__", "").startswith(package + ".")
    ]

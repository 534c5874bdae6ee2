"""Module-level lazy attributes (PEP 562): a package names what lives in which submodule, and the
submodule is imported on first use, so importing the package itself stays cheap (CLI start-up)."""

import importlib


def lazy_getattr(package: str, where: dict[str, str]):
    """A module ``__getattr__`` that imports ``package.<where[name]>`` on first access of ``name``."""

    def __getattr__(name: str):
        if name in where:
            return getattr(importlib.import_module(f"{package}.{where[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__

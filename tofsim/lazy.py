"""Package attributes imported on first use (PEP 562): how the package roots export their verbs cheaply.

Example:
    In a package's ``__init__.py``::

        if TYPE_CHECKING:  # type checkers and readers see the real import
            from tofsim.pipeline import generate
        __getattr__, __dir__ = lazy_attributes(__name__, {"generate": "tofsim.pipeline"})
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_attributes"]


def lazy_attributes(package: str, sources: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A module ``__getattr__`` and ``__dir__`` for `package` that import each of `sources` on first use.

    Args:
        package: the package's ``__name__``.
        sources: attribute name -> the module that defines it under the same name.

    Returns:
        ``(__getattr__, __dir__)``, to assign at the package's top level. The first lookup of a name imports its
        module and stores the value in the package's namespace, so later lookups are plain attribute reads.
    """

    def __getattr__(name: str) -> Any:
        module = sources.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        vars(sys.modules[package])[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *sources})

    return __getattr__, __dir__

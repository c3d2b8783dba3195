"""completion: depth-completion networks, training, quantization, export and fast CPU inference (uses torch).

The verbs: `train` (a `TrainConfig` -> a run folder; `completion.train.train`) and `predict` (a model or run
folder + data -> a folder of predictions; `completion.predict.predict`). Both are imported on first use, so
``import completion`` does not load torch.

Each verb has the name of the module that defines it, and Python binds a submodule to its package's attribute
when it imports it; `_Package` keeps the two names bound to the functions whatever was imported first. Use
``from completion.train import TrainConfig`` for the rest of a module, not ``import completion.train as m``.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

from tofsim.lazy import lazy_attributes

if TYPE_CHECKING:
    from completion.predict import predict
    from completion.train import train

__all__ = ["predict", "train"]

#: Names imported on first use, and the module that defines each.
_LAZY = {"train": "completion.train", "predict": "completion.predict"}
__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)


class _Package(types.ModuleType):
    """The package module, ignoring the import system's binding of the submodules `train` and `predict`."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _LAZY and isinstance(value, types.ModuleType):
            return  # `completion.train` stays the verb; the module is sys.modules["completion.train"]
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

"""The one place that knows which TFLite interpreter package is installed.

Order of preference: ``ai_edge_litert`` (LiteRT), ``tflite_runtime``, ``tensorflow.lite``.
Imports happen when an interpreter is built, never at import time of this module.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

_CANDIDATES: tuple[tuple[str, str], ...] = (
    ("ai_edge_litert.interpreter", "ai-edge-litert"),
    ("tflite_runtime.interpreter", "tflite-runtime"),
    ("tensorflow.lite", "tensorflow"),
)


class RuntimeUnavailableError(RuntimeError):
    """No TFLite interpreter package can be imported."""


class Interpreter(Protocol):
    """The subset of the TFLite ``Interpreter`` API the stages use."""

    def allocate_tensors(self) -> None: ...
    def resize_tensor_input(self, input_index: int, tensor_size: list[int]) -> None: ...
    def get_input_details(self) -> list[dict[str, Any]]: ...
    def get_output_details(self) -> list[dict[str, Any]]: ...
    def set_tensor(self, index: int, value: npt.NDArray[Any]) -> None: ...
    def invoke(self) -> None: ...
    def get_tensor(self, index: int) -> npt.NDArray[Any]: ...
    def tensor(self, tensor_index: int) -> Callable[[], npt.NDArray[Any]]: ...


def runtime_name() -> str:
    """Name of the interpreter package that :func:`make_interpreter` would use."""
    return _interpreter_class()[1]


def _interpreter_class() -> tuple[Any, str]:
    errors = []
    for module_name, dist in _CANDIDATES:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            errors.append(f"{dist}: {exc}")
            continue
        return module.Interpreter, dist
    raise RuntimeUnavailableError(
        "no TFLite interpreter is installed (tried " + "; ".join(errors) + "); "
        "install one with: pip install ai-edge-litert"
    )


def make_interpreter(model_content: bytes, threads: int) -> Interpreter:
    """Build and allocate an interpreter for the model bytes, using ``threads`` CPU threads."""
    cls, _name = _interpreter_class()
    interpreter: Interpreter = cls(model_content=model_content, num_threads=threads)
    interpreter.allocate_tensors()
    return interpreter


def as_int(value: Any) -> int:
    """Tensor index from the details dict as a plain ``int``."""
    return int(np.asarray(value).item())

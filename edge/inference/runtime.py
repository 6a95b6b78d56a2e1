"""The one place that knows which TFLite interpreter package is installed.

Order of preference: ``ai_edge_litert`` (LiteRT), ``tflite_runtime``, ``tensorflow.lite``.
Imports happen when an interpreter is built, never at import time of this module.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

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
    cls, name = _interpreter_class()
    start = time.perf_counter()
    with _native_stderr_to_log():
        interpreter: Interpreter = cls(model_content=model_content, num_threads=threads)
        interpreter.allocate_tensors()
    log.debug(
        "%s interpreter built: %d bytes, %d thread(s), %.1f ms",
        name, len(model_content), threads, (time.perf_counter() - start) * 1000,
    )  # fmt: skip
    return interpreter


@contextlib.contextmanager
def _native_stderr_to_log() -> Iterator[None]:
    """Route what the native runtime prints to file descriptor 2 while it builds an
    interpreter: its ``INFO:`` lines (``Created TensorFlow Lite XNNPACK delegate for CPU.``,
    once per process) become DEBUG log records, anything else is written back to stderr.

    The runtime logs through TFLite's MinimalLogger straight to fd 2; LiteRT has no Python
    switch for its level, and neither ``TF_CPP_MIN_LOG_LEVEL`` nor the interpreter's options
    silence it (ai-edge-litert 2.3.0), so the descriptor is redirected for this short call."""
    with contextlib.ExitStack() as stack:
        try:
            capture = stack.enter_context(tempfile.TemporaryFile())
        except OSError:  # no room for a capture file: let the runtime print as it likes
            yield
            return
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode("utf-8", "replace")
    for line in text.splitlines(keepends=True):
        if line.startswith("INFO: "):
            log.debug("runtime: %s", line.removeprefix("INFO: ").rstrip())
        else:
            sys.stderr.write(line)


def as_int(value: Any) -> int:
    """Tensor index from the details dict as a plain ``int``."""
    return int(np.asarray(value).item())

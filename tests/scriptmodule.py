"""Load a repository script (scripts/, models/: no packages) as a module, once per name."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from tests.conftest import REPO_ROOT


def load_script(relpath: str, name: str) -> ModuleType:
    """``REPO_ROOT / relpath`` imported as ``name`` (registered in sys.modules, so dataclasses
    and pickling work, and later calls return the same module)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / relpath)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def soak_module() -> ModuleType:
    """scripts/soak.py."""
    return load_script("scripts/soak.py", "edge_soak_script")

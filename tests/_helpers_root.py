"""tests/conftest.py loaded under a name of its own, for helper modules of test folders.

Each test folder may have its own ``conftest``, so ``import conftest`` could find another
folder's; helpers load the root one by path instead.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

__all__ = ["root_conftest"]


def root_conftest():
    """The module of tests/conftest.py (loaded once)."""
    name = "_riskmodel_tests_root_conftest"
    if name not in sys.modules:
        path = Path(__file__).resolve().parent / "conftest.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while it runs
        spec.loader.exec_module(module)
    return sys.modules[name]

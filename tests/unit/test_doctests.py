"""The examples in the package's docstrings run and give what they show.

A test per module that has examples (``>>>`` in its source), rather than pytest's
``--doctest-modules``: that option would also collect every test folder's ``conftest.py``
(all named ``conftest``) as a module of its own.
"""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import io
import pkgutil
from contextlib import redirect_stdout
from pathlib import Path

import pytest

import riskmodel

#: Flags every example may rely on (an example can still set others inline).
OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _modules_with_examples() -> list[str]:
    names = [riskmodel.__name__] + [m.name for m in pkgutil.walk_packages(riskmodel.__path__, f"{riskmodel.__name__}.")]
    return sorted(n for n in names if ">>>" in Path(importlib.util.find_spec(n).origin).read_text(encoding="utf-8"))


MODULES = _modules_with_examples()


def test_the_package_has_examples_to_run():
    assert {"riskmodel.evaluation.drift", "riskmodel.modelling.features"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    report = io.StringIO()
    with redirect_stdout(report):  # doctest writes each failure's expected and actual output
        failed, attempted = doctest.testmod(module, optionflags=OPTIONS)

    assert failed == 0, report.getvalue()
    assert attempted > 0 or "+SKIP" in Path(module.__file__).read_text(encoding="utf-8"), f"no example of {name} ran"

"""What a logged model carries so that it loads where riskmodel is not installed.

A model's pickle refers to riskmodel's own classes (``CalibratedModel``,
``ReleaseFeatures``) by name. The model is therefore logged with the ``riskmodel``
package itself as its code (MLflow's ``code_paths``: ``code/riskmodel`` in the model's
folder, put on ``sys.path`` when the model loads) and with requirements naming every
third-party package that loading it imports, pinned to the versions that trained it.
A fresh virtual environment built from the model's own ``requirements.txt`` then loads
it with plain ``mlflow.pyfunc.load_model`` and predicts.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version as package_version
from pathlib import Path

__all__ = ["requirements", "package_code"]

#: Distributions that loading a model imports (riskmodel.modelling.models and what it
#: imports: features, the configuration, the contract's vocabulary, metrics).
_LOADED_WITH_THE_MODEL: tuple[str, ...] = (
    "scikit-learn",
    "lightgbm",
    "pandas",
    "numpy",
    "scipy",
    "cloudpickle",
    "pyyaml",
    "pydantic",
    "typing-extensions",
)


def requirements() -> list[str]:
    """The model's pip requirements: each distribution it imports, pinned to the installed version.

    Given explicitly: MLflow's inference would load the model in a subprocess. MLflow adds
    its own pin.
    """
    return [f"{name}=={package_version(name)}" for name in _LOADED_WITH_THE_MODEL]


@contextmanager
def package_code() -> Iterator[list[str]]:
    """A copy of the installed ``riskmodel`` package (without byte-code caches) for ``code_paths``.

    Yields
    ------
    list of str
        One folder, ``.../riskmodel``, removed on exit.
    """
    import riskmodel

    source = Path(riskmodel.__file__).resolve().parent
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "riskmodel"
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        yield [str(target)]

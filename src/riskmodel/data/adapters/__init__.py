"""Adapters that map public data sets onto data contract v1.

:mod:`~riskmodel.data.adapters.nij` maps the NIJ Recidivism Forecasting Challenge file (18,028
Georgia parolees, the project's real-data benchmark) onto the ``releases`` and
``reoffences`` tables, using release-time columns only.
"""

from riskmodel.data.adapters.nij import (
    NIJ_FILE_NAME,
    NIJ_TEST_FROM,
    NIJCohort,
    default_nij_path,
    load_nij,
    split_nij,
)

__all__ = ["NIJ_FILE_NAME", "NIJ_TEST_FROM", "NIJCohort", "default_nij_path", "load_nij", "split_nij"]

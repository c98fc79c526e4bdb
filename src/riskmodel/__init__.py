"""riskmodel: calibrated, explained, fairness-audited reoffending risk for IOM panels.

One module per stage of the life cycle: :mod:`~riskmodel.data.contract` (data contract),
:mod:`~riskmodel.data.labels`, :mod:`~riskmodel.modelling.ogrs3`, :mod:`~riskmodel.data.synth`,
:mod:`~riskmodel.modelling.features`, :mod:`~riskmodel.modelling.models`, :mod:`~riskmodel.evaluation.metrics`,
:mod:`~riskmodel.evaluation.fairness`, :mod:`~riskmodel.modelling.registry`, :mod:`~riskmodel.modelling.train`,
:mod:`~riskmodel.scoring.scoring`, :mod:`~riskmodel.reporting.batch`, :mod:`~riskmodel.reporting.report`.
Nothing is done at import time.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"

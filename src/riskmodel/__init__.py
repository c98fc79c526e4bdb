"""riskmodel: calibrated, explained, fairness-audited reoffending risk for IOM panels.

One module per stage of the life cycle: :mod:`~riskmodel.contract` (data contract),
:mod:`~riskmodel.labels`, :mod:`~riskmodel.ogrs3`, :mod:`~riskmodel.synth`,
:mod:`~riskmodel.features`, :mod:`~riskmodel.models`, :mod:`~riskmodel.evaluate`,
:mod:`~riskmodel.fairness`, :mod:`~riskmodel.registry`, :mod:`~riskmodel.train`,
:mod:`~riskmodel.scoring`, :mod:`~riskmodel.batch`, :mod:`~riskmodel.report`.
Nothing is done at import time.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"

"""Evaluation: measuring predictions against outcomes, and populations against each other.

- :mod:`~riskmodel.evaluation.metrics`: discrimination, calibration, intervals;
- :mod:`~riskmodel.evaluation.fairness`: the same by group, and gaps between groups;
- :mod:`~riskmodel.evaluation.plots`: every figure (MLflow artifacts and the report);
- :mod:`~riskmodel.evaluation.drift`: population stability of the inputs;
- :mod:`~riskmodel.evaluation.impact`: the panel's impact, observed against expected.

Knows nothing of models: it works on arrays of outcomes and predictions.
"""

__all__ = ["drift", "fairness", "impact", "metrics", "plots"]

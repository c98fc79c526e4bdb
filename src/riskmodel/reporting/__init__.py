"""Reporting: the month's batch, the panel's report, and backtests of earlier scores.

- :mod:`~riskmodel.reporting.batch`: a file of releases in, scores and an audit record out;
- :mod:`~riskmodel.reporting.report`: the monthly HTML report for the panel;
- :mod:`~riskmodel.reporting.backtest`: earlier scores against outcomes since matured;
- :mod:`~riskmodel.reporting.impact_run`: ``riskmodel impact`` (inputs, estimate, MLflow);
- :mod:`~riskmodel.reporting.impact_report`: the impact estimate in words and HTML.

Imports :mod:`riskmodel.scoring` and below.
"""

__all__ = ["backtest", "batch", "impact_report", "impact_run", "report"]

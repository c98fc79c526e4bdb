"""Scoring: validated releases and loaded champions in, the contract's scoring output out.

- :mod:`~riskmodel.scoring.scoring`: scores, bands, ranks, needs, warnings;
- :mod:`~riskmodel.scoring.explain`: the factors behind a score, in words;
- :mod:`~riskmodel.scoring.output`: the output's columns, types and schema, and its
  rendering to JSON and CSV (needs, warnings and factors structured until then).

Both the service and batch scoring call :func:`riskmodel.scoring.scoring.score_columns`.
Imports :mod:`riskmodel.modelling` and below.
"""

__all__ = ["explain", "output", "scoring"]

"""Data: what comes in, and what it means.

- :mod:`~riskmodel.data.contract`: the data contract (reading, validating, rejecting rows);
- :mod:`~riskmodel.data.labels`: the targets, from the tables and ``as_of``;
- :mod:`~riskmodel.data.synth`: synthetic historic cohorts with their true values (and a simulated panel);
- :mod:`~riskmodel.data.decisions`: the panel's ``decisions`` table (validation, rejects);
- :mod:`~riskmodel.data.adapters`: public data sets mapped onto the contract.

The lowest wing: it imports nothing of riskmodel's but :mod:`riskmodel._constants` (one
exception, inside a function: the synthetic panel ranks by :mod:`riskmodel.modelling.ogrs3`).
"""

__all__ = ["adapters", "contract", "decisions", "labels", "synth"]

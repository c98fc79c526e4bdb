"""Data: what comes in, and what it means.

- :mod:`~riskmodel.data.contract`: the data contract (reading, validating, rejecting rows);
- :mod:`~riskmodel.data.labels`: the targets, from the tables and ``as_of``;
- :mod:`~riskmodel.data.synth`: synthetic historic cohorts with their true values;
- :mod:`~riskmodel.data.adapters`: public data sets mapped onto the contract.

The lowest wing: it imports nothing of riskmodel's but :mod:`riskmodel._constants`.
"""

__all__ = ["adapters", "contract", "labels", "synth"]

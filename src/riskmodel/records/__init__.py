"""Records: what riskmodel keeps of what it did.

- :mod:`~riskmodel.records.audit`: the audit database (API keys, scored requests, batch runs).

Imports only :mod:`riskmodel.data` and below.
"""

__all__ = ["audit"]

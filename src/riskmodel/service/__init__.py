"""Service: the online API's logic, independent of the web framework.

- :mod:`~riskmodel.service.state`: request coalescing, scoring, audit and reload;
- :mod:`~riskmodel.service.workers`: keeping worker processes on one set of champions.

``serving/service.py`` (BentoML) maps HTTP onto :class:`~riskmodel.service.state.ServiceState`.
The top wing: only the entry points (the CLI, ``serving/``) import it.
"""

__all__ = ["state", "workers"]

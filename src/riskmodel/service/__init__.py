"""Service: the online API's logic, independent of the web framework.

- :mod:`~riskmodel.service.state`: request coalescing, scoring, audit, reload and readiness;
- :mod:`~riskmodel.service.auth`: API keys and what each role may do;
- :mod:`~riskmodel.service.errors`: :class:`~riskmodel.service.errors.ServiceError`, an answer other than success;
- :mod:`~riskmodel.service.workers`: keeping worker processes on one set of champions.

``serving/service.py`` (BentoML) maps HTTP onto :class:`~riskmodel.service.state.ServiceState`.
The top wing: only the entry points (the CLI, ``serving/``) import it.
"""

__all__ = ["auth", "errors", "state", "workers"]

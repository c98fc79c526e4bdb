"""Modelling: from labelled releases to registered, promoted champions.

- :mod:`~riskmodel.modelling.config`: the typed training configuration;
- :mod:`~riskmodel.modelling.features`, :mod:`~riskmodel.modelling.models`: the scikit-learn
  pipelines (features + LightGBM, calibration, baselines);
- :mod:`~riskmodel.modelling.treeshap`: explanation tables of the trees;
- :mod:`~riskmodel.modelling.ogrs3`, :mod:`~riskmodel.modelling.arp`: the public reference predictors;
- :mod:`~riskmodel.modelling.train`: splitting, fitting and evaluating;
- :mod:`~riskmodel.modelling.gates`: the promotion rules, as a pure function;
- :mod:`~riskmodel.modelling.registry`: MLflow (logging, loading, aliases);
- :mod:`~riskmodel.modelling.champions`: the loaded champions as one typed value;
- :mod:`~riskmodel.modelling.workflow`: load, train, log and register in one call;
- :mod:`~riskmodel.modelling.modelcard`: the model card.

Imports :mod:`riskmodel.evaluation`, :mod:`riskmodel.data` and below.
"""

__all__ = [
    "arp",
    "champions",
    "config",
    "features",
    "gates",
    "modelcard",
    "models",
    "ogrs3",
    "registry",
    "train",
    "treeshap",
    "workflow",
]

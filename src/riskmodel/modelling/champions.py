"""The served models as one value: :class:`Champions` and each model's :class:`ModelInfo`.

A small module of plain records, so that every module that takes the champions (scoring,
batch, report, service) can name their type without importing MLflow;
:func:`riskmodel.modelling.registry.load_champions` builds them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from riskmodel.modelling.config import ScoringConfig, TrainConfig

if TYPE_CHECKING:  # only named in annotations: no LightGBM import to read this module
    from riskmodel.modelling.models import CalibratedModel

__all__ = ["ModelInfo", "Champions"]


@dataclass(frozen=True)
class ModelInfo:
    """A served model's identity and validation record."""

    target: str
    name: str
    version: str
    run_id: str
    fingerprint: str
    metrics: dict[str, float]
    model_card: str
    validation: dict[str, Any]
    profile: dict[str, Any]
    #: Rules accepted by an operator when it was made champion (who, when, rule, figures);
    #: see :func:`riskmodel.modelling.registry.acceptances_of`.
    acceptances: tuple[dict[str, Any], ...] = ()

    @property
    def label(self) -> str:
        """``riskmodel-reoffence/3``: the name and version shown beside a score."""
        return f"{self.name}/{self.version}"


@dataclass(frozen=True)
class Champions:
    """The three champion models, their records and the scoring configuration."""

    models: dict[str, CalibratedModel]
    info: dict[str, ModelInfo]
    scoring: ScoringConfig
    config: TrainConfig
    #: Target → how its margin is predicted (:class:`riskmodel.modelling.compiled.CompileStatus`
    #: as a dictionary: engine ``lleaves`` or ``lightgbm``, cache, reason).
    engines: dict[str, dict[str, Any]] = field(default_factory=dict)

    def versions(self) -> dict[str, str]:
        """Target → ``name/version``."""
        return {t: i.label for t, i in self.info.items()}

"""Compiled trees: each champion's booster as machine code, checked against LightGBM.

LightGBM walks its trees in a generic interpreter; lleaves (LLVM) turns a fitted booster
into one native function per model, which predicted the product's model shape about five
times faster here (``benchmarks/batch.py``: the compiled row beside raw LightGBM). treelite
with tl2cgen was measured too and gave about 2.5x, so lleaves is the one used.

* **Once per model version.** The object code is cached under the riskmodel home
  (``compiled/``), keyed by a digest of the trees, the lleaves, llvmlite and LightGBM
  versions and the CPU (name and features): a cache hit loads in milliseconds, a miss
  compiles (a few seconds) under a file lock, so two service workers never compile the
  same trees twice at once. Beside each object file lies its SHA-256; a file whose digest
  does not match (corrupt, truncated) is removed and rebuilt.
* **Checked before use.** The compiled function must give LightGBM's own raw margin to
  within :data:`TOLERANCE` on a fixed sample (:func:`check_rows`) that holds every split
  threshold, the values just either side of it, zeros and missing values. If the check
  or the compilation fails, the model keeps LightGBM's ``predict``, and the reason is
  logged and reported (``GET /model``: ``compiled``).
* Explanations keep the table-lookup TreeSHAP (:mod:`riskmodel.modelling.treeshap`): only
  the margin is compiled.

:func:`attach` hands the compiled function to a :class:`~riskmodel.modelling.models.CalibratedModel`
without storing it on the model (it is not picklable): the model looks it up by booster.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import tempfile
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import lightgbm as lgb

    from riskmodel.modelling.models import CalibratedModel

__all__ = [
    "TOLERANCE",
    "Compiled",
    "CompileStatus",
    "attach",
    "check_rows",
    "compile_booster",
    "compile_models",
    "compiled_for",
]

logger = logging.getLogger("riskmodel.compiled")

#: Largest difference from LightGBM's raw margin a compiled model may show on the check rows.
TOLERANCE = 1e-9

#: LightGBM reads a value this close to zero as zero (its ``kZeroThreshold``).
_ZERO_THRESHOLD = float(np.float32(1e-35))

#: Rows up to which one thread predicts (thread start-up costs more than it saves below).
_ONE_THREAD_ROWS = 20_000

_COMPILED: weakref.WeakKeyDictionary[lgb.Booster, Compiled] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class CompileStatus:
    """How one booster is predicted, for the log and ``GET /model``.

    Attributes
    ----------
    engine : str
        ``lleaves`` (compiled) or ``lightgbm`` (the fallback).
    cache : str
        ``hit``, ``built`` (compiled now), ``rebuilt`` (a corrupt entry replaced) or ``none``.
    reason : str
        Why LightGBM is used, when it is ("" when compiled).
    max_difference : float or None
        Largest difference from LightGBM on the check rows.
    """

    engine: str
    cache: str
    reason: str = ""
    max_difference: float | None = None

    def as_dict(self) -> dict[str, object]:
        """Plain form for JSON."""
        return {
            "engine": self.engine,
            "cache": self.cache,
            "reason": self.reason,
            "max_difference": self.max_difference,
        }


class Compiled:
    """A compiled booster's raw-margin function.

    Parameters
    ----------
    model : lleaves.Model
        Compiled with ``raw_score=True``.
    status : CompileStatus
    """

    def __init__(self, model: object, status: CompileStatus):
        self._model = model
        self.status = status

    def margin(self, Xt: np.ndarray) -> np.ndarray:
        """Raw margin (log-odds or log-rate) of transformed features, as LightGBM's ``raw_score``."""
        data = np.ascontiguousarray(Xt, dtype=np.float64)
        tiny = (np.abs(data) <= _ZERO_THRESHOLD) & (data != 0.0)
        if tiny.any():  # LightGBM reads these as zero; so must the compiled trees
            data = np.where(tiny, 0.0, data)
        threads = 1 if len(data) <= _ONE_THREAD_ROWS else min(os.cpu_count() or 1, 4)
        return self._model.predict(data, n_jobs=threads)  # type: ignore[attr-defined]


def compiled_for(booster: lgb.Booster) -> Compiled | None:
    """The compiled function attached to a booster (None: LightGBM predicts)."""
    return _COMPILED.get(booster)


def attach(model: CalibratedModel, compiled: Compiled | None) -> None:
    """Make ``model`` predict its margin with ``compiled`` (None: back to LightGBM)."""
    if compiled is None:
        _COMPILED.pop(model.booster, None)
    else:
        _COMPILED[model.booster] = compiled


# --------------------------------------------------------------------------- the check


def check_rows(booster: lgb.Booster, *, rows: int = 512, seed: int = 0) -> np.ndarray:
    """A fixed sample of feature rows that exercises every split of the booster.

    Every numerical split threshold appears, with the nearest values just below and just
    above it; zeros and missing values (NaN) appear in every column; categorical columns
    take every category a split names. Rows mix these values at random (a fixed seed), so
    the same booster always gets the same rows.
    """
    model = booster.dump_model()
    n_features = int(model["max_feature_idx"]) + 1
    pools: list[list[float]] = [[0.0, float("nan"), 1.0, -1.0] for _ in range(n_features)]

    def walk(node: dict) -> None:
        if "split_feature" not in node:
            return
        feature = int(node["split_feature"])
        if node.get("decision_type") == "==":
            pools[feature].extend(float(v) for v in str(node["threshold"]).split("||"))
        else:
            t = float(node["threshold"])
            pools[feature].extend([t, float(np.nextafter(t, -np.inf)), float(np.nextafter(t, np.inf))])
        walk(node["left_child"])
        walk(node["right_child"])

    for tree in model["tree_info"]:
        walk(tree["tree_structure"])
    rng = np.random.default_rng(seed)
    values = [np.unique(np.asarray(pool, dtype=np.float64)) for pool in pools]  # NaN kept once
    out = np.empty((rows, n_features), dtype=np.float64)
    for j, pool in enumerate(values):
        column = rng.choice(pool, size=rows)
        column[: len(pool)] = pool[:rows]  # each value at least once (while rows last)
        out[:, j] = column
    return out


def _difference(compiled: Compiled, booster: lgb.Booster, rows: np.ndarray) -> float:
    expected = booster.predict(rows, raw_score=True, num_threads=1)
    got = compiled.margin(rows)
    return float(np.max(np.abs(np.asarray(expected) - got))) if len(rows) else 0.0


# --------------------------------------------------------------------------- the cache


def _versions() -> str:
    parts = []
    for name in ("lleaves", "llvmlite", "lightgbm"):
        try:
            parts.append(f"{name}={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{name}=none")
    return ";".join(parts)


def _cpu() -> str:
    import llvmlite.binding as llvm

    features = llvm.get_host_cpu_features().flatten()
    return f"{llvm.get_host_cpu_name()};{features}"


def cache_key(booster: lgb.Booster) -> str:
    """Digest of the trees, the library versions and the CPU: one object file per key."""
    digest = hashlib.sha256()
    digest.update(booster.model_to_string().encode())
    digest.update(_versions().encode())
    digest.update(_cpu().encode())
    return digest.hexdigest()[:32]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def compile_booster(
    booster: lgb.Booster, cache_dir: Path | None, *, compiler: Callable[..., object] | None = None
) -> Compiled | CompileStatus:
    """Compile a booster (or load it from the cache) and check it against LightGBM.

    Parameters
    ----------
    booster : lightgbm.Booster
    cache_dir : Path or None
        Folder of the object files (None: compile without caching).
    compiler : callable, optional
        ``compiler(model_file) -> lleaves.Model``-like object (tests pass a failing one).

    Returns
    -------
    Compiled
        When the compiled model equals LightGBM to :data:`TOLERANCE` on :func:`check_rows`.
    CompileStatus
        The fallback's status (``engine="lightgbm"``) with the reason, otherwise.
    """
    try:
        return _compile_checked(booster, cache_dir, compiler)
    except Exception as exc:  # any failure of an optional accelerator falls back, said
        reason = f"compilation failed: {type(exc).__name__}: {exc}"
        logger.warning("compiled trees not used, LightGBM predicts: %s", reason)
        return CompileStatus("lightgbm", "none", reason)


def _compile_checked(
    booster: lgb.Booster, cache_dir: Path | None, compiler: Callable[..., object] | None
) -> Compiled | CompileStatus:
    if compiler is None:
        import lleaves

        compiler = lleaves.Model
    rows = check_rows(booster)
    key = cache_key(booster)
    with tempfile.TemporaryDirectory() as tmp:
        model_file = Path(tmp) / "model.txt"
        booster.save_model(str(model_file))
        if cache_dir is None:
            model = compiler(model_file=str(model_file))
            model.compile(raw_score=True)  # type: ignore[attr-defined]
            return _checked(Compiled(model, CompileStatus("lleaves", "none")), booster, rows)
        cache_dir.mkdir(parents=True, exist_ok=True)
        obj, digest = cache_dir / f"{key}.o", cache_dir / f"{key}.sha256"
        with _locked(cache_dir / f"{key}.lock"):
            state = "hit"
            if obj.exists() and (not digest.exists() or digest.read_text().strip() != _sha256(obj)):
                logger.warning("compiled-trees cache entry %s is corrupt: rebuilding it", obj.name)
                obj.unlink()
                state = "rebuilt"
            if not obj.exists():
                digest.unlink(missing_ok=True)
                state = "rebuilt" if state == "rebuilt" else "built"
            model = compiler(model_file=str(model_file))
            model.compile(cache=str(obj), raw_score=True)  # type: ignore[attr-defined]
            if state != "hit":
                digest.write_text(_sha256(obj))
            result = _checked(Compiled(model, CompileStatus("lleaves", state)), booster, rows)
            if isinstance(result, CompileStatus):  # a wrong cached file must not stay
                obj.unlink(missing_ok=True)
                digest.unlink(missing_ok=True)
            return result


def _checked(compiled: Compiled, booster: lgb.Booster, rows: np.ndarray) -> Compiled | CompileStatus:
    difference = _difference(compiled, booster, rows)
    if not difference <= TOLERANCE:  # NaN fails too
        reason = f"compiled margin differs from LightGBM's by {difference:.3g} (> {TOLERANCE:g}) on the check rows"
        logger.warning("compiled trees not used, LightGBM predicts: %s", reason)
        return CompileStatus("lightgbm", compiled.status.cache, reason, difference)
    compiled.status = CompileStatus("lleaves", compiled.status.cache, "", difference)
    return compiled


def compile_models(models: Mapping[str, CalibratedModel], cache_dir: Path | None) -> dict[str, CompileStatus]:
    """Compile every model's booster once (models sharing trees share one compiled function).

    Each model then predicts its margin with the compiled function, or with LightGBM where
    compilation or the check failed. Returns each target's :class:`CompileStatus`.
    """
    done: dict[str, Compiled | CompileStatus] = {}
    statuses: dict[str, CompileStatus] = {}
    for target, model in models.items():
        key = model.trees_key
        if key not in done:
            done[key] = compile_booster(model.booster, cache_dir)
        outcome = done[key]
        attach(model, outcome if isinstance(outcome, Compiled) else None)
        statuses[target] = outcome.status if isinstance(outcome, Compiled) else outcome
        logger.info(
            "%s: margin by %s (cache %s)%s",
            target,
            statuses[target].engine,
            statuses[target].cache,
            f": {statuses[target].reason}" if statuses[target].reason else "",
        )
    return statuses

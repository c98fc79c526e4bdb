"""No personal data in the tracking store (issue 12, item 6).

Every artifact of the session's training run, its params and its tags, and the tags of
its registered versions, are scanned for any person or release id of the training data:
none may appear. The row-level evaluation that promotion needs is kept in the home
instead, owner-only, and the run holds only its path and SHA-256.
"""

from __future__ import annotations

import hashlib
import re
import stat
from dataclasses import replace
from pathlib import Path

import mlflow
import pytest

from riskmodel.data.contract import load_cohort
from riskmodel.modelling.models import TARGETS
from riskmodel.modelling.registry import CANDIDATE, EVALUATIONS, _load_evaluation, connect, model_name

pytestmark = pytest.mark.slow

#: How the synthetic cohort's ids look (``P000123``, ``R0000123``): a scan that finds none
#: of these patterns at all cannot have missed one by a formatting difference.
ID_PATTERN = re.compile(rb"\b[PR]\d{6,7}\b")


@pytest.fixture(scope="module")
def run(trained_home):
    connect(trained_home.settings)
    client = mlflow.MlflowClient()
    version = client.get_model_version_by_alias(model_name("reoffence"), CANDIDATE)
    return client, mlflow.get_run(version.run_id)


@pytest.fixture(scope="module")
def ids(trained_home) -> set[str]:
    cohort = load_cohort(trained_home.data)
    releases = cohort.releases.data
    return set(releases["person_id"].astype(str)) | set(releases["release_id"].astype(str))


def _texts(root: Path):
    for path in sorted(root.rglob("*")):
        if path.is_file():
            yield path, path.read_bytes()


def test_no_artifact_param_or_tag_of_the_run_holds_a_person_or_release_id(trained_home, run, ids, tmp_path):
    client, info = run
    assert len(ids) > 1000
    local = Path(mlflow.artifacts.download_artifacts(run_id=info.info.run_id, dst_path=str(tmp_path / "run")))
    files = list(_texts(local))
    assert len(files) > 20  # models, plots, tables, cards of three targets: the scan saw them
    assert not [p for p, _ in files if p.name.startswith("test_rows")], "person-level rows logged to MLflow"
    found = {}
    for path, data in files:
        hits = {m.decode() for m in ID_PATTERN.findall(data)} & ids
        if hits:
            found[str(path.relative_to(local))] = sorted(hits)[:3]
    assert not found, f"ids of the training data in run artifacts: {found}"
    recorded = [*info.data.params.items(), *info.data.tags.items()]
    for target in TARGETS:
        for version in client.search_model_versions(f"name='{model_name(target)}'"):
            recorded += list(client.get_model_version(version.name, version.version).tags.items())
    text = "\n".join(f"{key}={value}" for key, value in recorded).encode()
    assert not {m.decode() for m in ID_PATTERN.findall(text)} & ids


def test_the_evaluation_rows_are_kept_in_the_home_owner_only_and_referenced_by_fingerprint(trained_home, run):
    _, info = run
    settings = trained_home.settings
    for target in TARGETS:
        relative = info.data.tags[f"evaluation.{target}.path"]
        path = settings.home / relative
        assert relative == f"{EVALUATIONS}/{info.info.run_id}/{target}.parquet"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == info.data.tags[f"evaluation.{target}.sha256"]
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE(path.parent.parent.stat().st_mode) == 0o700
        rows = _load_evaluation(settings, info.info.run_id, target)
        assert {"release_id", "__outcome", "__score.model", "__score.baseline", "ethnicity"} <= set(rows.columns)
        assert len(rows) == int(info.data.metrics[f"{target}.model.n"])


def test_promotion_without_the_evaluation_file_says_which_file_and_run(trained_home, run, tmp_path):
    _, info = run
    elsewhere = replace(trained_home.settings, home=tmp_path)
    with pytest.raises(LookupError, match=rf"evaluation file {re.escape(str(tmp_path))}/.*harm.parquet of run"):
        _load_evaluation(elsewhere, info.info.run_id, "harm")

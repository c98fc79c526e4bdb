"""The data scientists' notebooks: committed without outputs, one ``parameters`` cell each
(papermill's convention), and they run top to bottom, in order, on small cohorts in a
temporary home, on their default data and on another data folder given as a parameter."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import nbformat
import pytest
import yaml
from nbclient import NotebookClient

#: The module's fixture trains once (the rolling-origin evaluation and the refit) and runs
#: four notebooks: more than the suite's 300 s per test on a loaded 2-core machine.
pytestmark = pytest.mark.timeout(900)

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
ORDER = ("01-explore-cohort", "02-retrain-and-compare", "03-fairness-review")


def _root_conftest():
    """tests/conftest.py under a name of its own ("conftest" may be another folder's)."""
    name = "_riskmodel_tests_root_conftest"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[1] / "conftest.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def _read(name: str):
    return nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)


@pytest.mark.parametrize("name", ORDER)
def test_notebooks_are_committed_without_outputs_and_hold_only_calls(name):
    notebook = _read(name)
    nbformat.validate(notebook)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
    source = "\n".join(c.source for c in code)
    assert "from riskmodel" in source
    # no logic of their own: no functions, classes or model fitting written in a notebook
    for construct in ("def ", "class ", "lambda", ".fit(", "lightgbm", "sklearn", "set_tracking_uri", "mlflow.db"):
        assert construct not in source, construct


def _parameters_cells(notebook) -> list[int]:
    return [i for i, c in enumerate(notebook.cells) if "parameters" in c.metadata.get("tags", [])]


def _with_parameters(notebook, **values):
    """The notebook with a cell after its ``parameters`` cell setting ``values``: what papermill injects."""
    [index] = _parameters_cells(notebook)
    cell = nbformat.v4.new_code_cell("\n".join(f"{name} = {value!r}" for name, value in values.items()))
    cell.metadata["tags"] = ["injected-parameters"]
    notebook.cells.insert(index + 1, cell)
    return notebook


def _promote_section(notebook):
    """Notebook 02 without its data and training cells: parameters, imports and the promote cell."""
    code = [c for c in notebook.cells if c.cell_type == "code"]
    [parameters] = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    [imports] = [c for c in code if "load_config(" in c.source]
    [promote] = [c for c in code if "registry.promote(" in c.source]
    return nbformat.v4.new_notebook(cells=[parameters, imports, promote], metadata=notebook.metadata)


@pytest.mark.parametrize("name", ORDER)
def test_each_notebook_has_one_parameters_cell_with_the_data_folder_and_as_of(name):
    notebook = _read(name)
    [index] = _parameters_cells(notebook)
    namespace: dict[str, object] = {}
    exec(notebook.cells[index].source, namespace)  # plain assignments only
    assert namespace["data_dir"] is None and namespace["as_of"] is None
    if name == "02-retrain-and-compare":
        assert namespace["promote"] is False
        assert namespace["accept_small_evaluation"] is False and namespace["accept_unaudited"] == []


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Run the notebooks in order in one fresh home, parameters injected as papermill does.

    01 runs twice: on its default (the synthetic cohort written under the home) and on
    ``other``, a folder of a different cohort (another seed) given as ``data_dir`` with its
    ``as_of``. 02 trains on ``other`` with ``promote`` left at its default (False); then
    its promote cell runs with ``promote = True``, and 03 reviews the champions.
    """
    from riskmodel.data.synth import generate_cohort, write_cohort

    root = tmp_path_factory.mktemp("notebooks")
    config = root / "small.yaml"
    config.write_text(yaml.safe_dump(_root_conftest().TEST_CONFIG))
    other = root / "other-data"
    cohort = generate_cohort(3000, seed=1)  # the size and seed whose candidates pass the test gates
    write_cohort(cohort, other)
    data = {"data_dir": str(other), "as_of": cohort.as_of.isoformat()}
    work = root / "work"
    work.mkdir()
    mp = pytest.MonkeyPatch()
    mp.setenv("RISKMODEL_HOME", str(root / "home"))
    mp.setenv("BENTOML_HOME", str(root / "bentoml"))
    mp.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name in ("RISKMODEL_TRACKING_URI", "MLFLOW_TRACKING_URI", "RISKMODEL_AUDIT_URL", "MLFLOW_RUN_ID"):
        mp.delenv(name, raising=False)

    def run(notebook):
        # a failing cell is kept as an error output (test_notebooks_run_without_errors names it), so the
        # notebooks after it still run and each test below reports on its own notebook
        NotebookClient(
            notebook,
            timeout=600,
            kernel_name="python3",
            allow_errors=True,
            resources={"metadata": {"path": str(work)}},
        ).execute()
        return notebook

    notebooks = {}
    facts = {"other_releases": len(cohort.releases), "other_files": sorted(p.name for p in other.iterdir())}
    try:
        notebooks["01-other"] = run(_with_parameters(_read("01-explore-cohort"), **data))
        facts["synthetic_written_by_01_other"] = (root / "home" / "data" / "synthetic").exists()
        notebooks["01-explore-cohort"] = run(_with_parameters(_read("01-explore-cohort"), people=2500, seed=4))
        notebooks["02-retrain-and-compare"] = run(
            _with_parameters(_read("02-retrain-and-compare"), **data, config=str(config))
        )
        from riskmodel.modelling.registry import load_champions
        from riskmodel.settings import Settings

        with pytest.raises(LookupError, match="no 'champion' version"):
            load_champions(Settings.from_env())
        # a cohort this small is below the gates' minimum evidence and fairness group sizes: accepted, as a user would
        accept = {"accept_small_evaluation": True, "accept_unaudited": ["ethnicity", "age_band"]}
        notebooks["02-promote"] = run(
            _with_parameters(
                _promote_section(_read("02-retrain-and-compare")), config=str(config), promote=True, **accept
            )
        )
        notebooks["03-fairness-review"] = run(_with_parameters(_read("03-fairness-review"), **data))
    finally:
        mp.undo()
    return root, work, notebooks, facts


def _text(notebook) -> str:
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            data = output.get("data", {})
            parts.append(
                str(data.get("text/plain", "")) + str(data.get("text/markdown", "")) + str(data.get("text/html", ""))
            )
    return "\n".join(parts)


def test_notebooks_run_without_errors(executed):
    _, _, notebooks, _ = executed
    for name, notebook in notebooks.items():
        for cell in notebook.cells:
            for output in cell.get("outputs", []):
                assert output.get("output_type") != "error", (name, output.get("ename"), output.get("evalue"))


def test_01_shows_the_cohort_the_contract_and_the_outcomes(executed):
    root, _, notebooks, _ = executed
    text = _text(notebooks["01-explore-cohort"])
    assert "12-month proven reoffending" in text
    assert "rows read" in text and "rows rejected" in text
    assert "ogrs3_2y" in text and "arp_2y" in text
    assert (root / "home" / "data" / "synthetic" / "releases.csv").exists()


def test_01_explores_another_data_folder_given_as_a_parameter(executed):
    root, _, notebooks, facts = executed
    text = _text(notebooks["01-other"])
    assert f"data: {root / 'other-data'}" in text
    assert f"releases: rows read {facts['other_releases']} = rows accepted {facts['other_releases']}" in text
    assert "ogrs3_2y" in text and "arp_2y" in text
    assert "12-month proven reoffending" not in text  # the synthetic cohort's summary: not generated
    assert not facts["synthetic_written_by_01_other"]


def test_02_trains_on_the_data_folder_and_does_not_promote_by_default(executed):
    root, _, notebooks, facts = executed
    text = _text(notebooks["02-retrain-and-compare"])
    assert f"data: {root / 'other-data'}" in text
    assert f"releases: rows read {facts['other_releases']} =" in text
    for target in ("reoffence", "harm", "frequency"):
        assert f"### {target} (registered version 1)" in text
    assert "oracle" in text and "ogrs3" in text and "baseline" in text
    assert "reoffence.auc" in text and "candidate" in text
    assert "not promoted: the candidates stay candidates" in text and "promoted: {" not in text


def test_02_promotes_when_the_parameter_says_so(executed):
    _, _, notebooks, _ = executed
    text = _text(notebooks["02-promote"])
    assert "promoted: {'reoffence': " in text and "FAIL" not in text, text


def test_03_reviews_the_champions_fairness(executed):
    _, _, notebooks, _ = executed
    text = _text(notebooks["03-fairness-review"])
    assert "riskmodel-reoffence/1" in text and "riskmodel-frequency/1" in text
    for column in (
        "false_positive_rate",
        "false_negative_rate",
        "calibration_in_the_large",
        "top_n_selection_rate",
        "small_group",
    ):
        assert column in text
    assert "by ethnicity" in text and "by age band" in text
    assert "# Model card: riskmodel-harm" in text


def test_notebooks_keep_all_state_in_the_home(executed):
    root, work, _, facts = executed
    assert (root / "home" / "mlflow.db").exists()
    assert not list(work.iterdir()), "a notebook wrote into its working folder"
    assert not (NOTEBOOKS / "mlflow.db").exists() and not (NOTEBOOKS / "mlruns").exists()
    assert json.loads((NOTEBOOKS / "02-retrain-and-compare.ipynb").read_text())["cells"][1].get("outputs") == []
    assert sorted(p.name for p in (root / "other-data").iterdir()) == facts["other_files"]  # read, never written

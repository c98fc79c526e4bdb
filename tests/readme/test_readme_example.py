"""The README's API example is what the demo's champions answer (issue 15, item 17).

The demo's champions are trained here as ``riskmodel demo`` trains them (its default cohort
and configuration); ``scripts/readme_example`` renders their answer to the README's
request, and the README must hold exactly that. When the models change on purpose, run
``scripts/readme_example`` after the demo to regenerate the block.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]


def readme_example():
    """scripts/readme_example as a module (it has no ``.py`` suffix)."""
    loader = importlib.machinery.SourceFileLoader("readme_example", str(ROOT / "scripts" / "readme_example"))
    spec = importlib.util.spec_from_loader("readme_example", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def demo_defaults() -> dict[str, object]:
    """``riskmodel demo``'s default options (people, seed)."""
    from riskmodel.cli import main

    return {param.name: param.default for param in main.commands["demo"].params}


@pytest.fixture(scope="module")
def demo_settings(tmp_path_factory):
    """A home whose champions are the demo's: its default cohort, trained and promoted on its configuration."""
    from riskmodel.data.synth import generate_cohort, write_cohort
    from riskmodel.modelling.config import load_config
    from riskmodel.modelling.registry import promote
    from riskmodel.modelling.workflow import train_and_register
    from riskmodel.settings import Settings

    defaults = demo_defaults()
    settings = Settings.from_env({"RISKMODEL_HOME": str(tmp_path_factory.mktemp("demo_home"))}).ensure()
    cohort = generate_cohort(defaults["people"], seed=defaults["seed"])
    data = settings.data_dir / "synthetic"
    write_cohort(cohort, data)
    train_and_register(data, settings=settings, as_of=cohort.as_of, config=load_config())
    assert promote(settings, gates=load_config().gates).passed
    return settings


def test_the_readmes_example_is_what_the_demos_champions_answer(demo_settings):
    script = readme_example()
    readme = (ROOT / "README.md").read_text()
    expected = script.example_block(script.service_answer(demo_settings))
    assert script.render(readme, expected) == readme, (
        "README.md's API example differs from the demo champions' answer; run scripts/readme_example after"
        f" the demo. Expected:\n{expected}"
    )


def test_the_example_request_is_the_readmes_and_is_scored_without_refusal(demo_settings):
    script = readme_example()
    answer = script.service_answer(demo_settings)
    assert [row["release_id"] for row in answer] == ["R1"]
    assert answer[0]["reoffence_model"].startswith("riskmodel-reoffence/")
    assert '"release_id": "R1"' in (ROOT / "README.md").read_text()

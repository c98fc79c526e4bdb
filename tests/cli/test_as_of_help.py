"""`train --help` says how to choose --as-of, with the windows the labels really use."""

from __future__ import annotations

from riskmodel.cli import main
from riskmodel.data.labels import LabelConfig


def words(text: str) -> str:
    return " ".join(text.split())


def test_train_help_explains_as_of_with_the_contract_windows(runner):
    result = runner.invoke(main, ["train", "--help"])

    assert result.exit_code == 0, result.output
    said, labels = words(result.stdout), LabelConfig()
    assert "it is the extract date" in said
    assert "must not be later than the extract" in said
    # the rules as the labels apply them (riskmodel.data.labels), so the help cannot drift from them
    reoffence = f"release + {labels.window_days} days (window) + {labels.waiting_days} days (waiting period for proof)"
    assert f"reoffence, frequency: {reoffence} <= as-of" in said
    assert f"harm: release + {labels.harm_window_days} + {labels.waiting_days} days <= as-of" in said
    assert "outcome is unknown, never 0" in said

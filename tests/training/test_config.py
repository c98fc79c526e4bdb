"""Configuration: the written defaults equal the code's, mistakes are refused by name."""

from __future__ import annotations

import pickle
import subprocess
import sys
from datetime import date

import pytest
import yaml
from click.testing import CliRunner
from training_helpers import REPO

from riskmodel.cli import main
from riskmodel.modelling.config import TrainConfig, config_from_dict, config_to_dict, load_config

CONFIG_YAML = REPO / "training" / "config.yaml"


def test_training_config_yaml_is_exactly_the_code_defaults():
    written = yaml.safe_load(CONFIG_YAML.read_text())
    assert written == config_to_dict(TrainConfig())
    assert load_config(CONFIG_YAML) == TrainConfig()


def test_every_setting_in_the_yaml_is_explained_by_a_comment():
    text = CONFIG_YAML.read_text()
    for section in config_to_dict(TrainConfig()):
        lines = text.splitlines()
        index = next(i for i, line in enumerate(lines) if line.startswith(f"{section}:"))
        assert lines[index - 1].lstrip().startswith("#") or "#" in lines[index], f"{section} has no comment"


def test_a_round_trip_through_plain_data_keeps_everything():
    config = config_from_dict(
        {
            "labels": {"window_days": 300, "harm_groups": ["violence", "robbery"]},
            "split": {"test_from": "2020-02-01", "evaluation_period": "half", "calibration_folds": 4},
            "params": {"harm": {"num_leaves": 7}},
            "gates": {"calibration_slope": [0.9, 1.1], "min_group_size": 50},
            "scoring": {"harm_bands": [[0, "low"], [0.5, "high"]], "capacity": 20},
            "extra_numeric": ["x"],
            "fairness_thresholds": {"harm": 0.4},
        }
    )
    assert config_from_dict(config_to_dict(config)) == config
    assert config.params_for("harm")["num_leaves"] == 7
    assert config.params_for("reoffence")["num_leaves"] == TrainConfig().params_for("reoffence")["num_leaves"]
    assert config.gates.calibration_slope == (0.9, 1.1)
    assert config.fairness_thresholds == {"reoffence": TrainConfig().fairness_thresholds["reoffence"], "harm": 0.4}


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ({"gate": {}}, "gate"),
        ({"gates": {"min_acu": 0.7}}, "min_acu"),
        ({"labels": {"window": 300}}, "window"),
        ({"split": {"test_form": "2020-01-01"}}, "test_form"),
        ({"scoring": {"capcity": 10}}, "capcity"),
        ({"params": {"reoffense": {"num_leaves": 7}}}, "reoffense"),
        ({"params": {"default": {"num_leafs": 7}}}, "num_leafs"),
        ({"params": {"harm": {"objective": "tweedie"}}}, "objective"),
        ({"fairness_thresholds": {"frequency": 0.5}}, "frequency"),
        ({"gates": {"min_auc": "high"}}, "gates.min_auc"),
        ({"labels": {"window_days": 365.5}}, "labels.window_days"),
        ({"split": {"test_from": "2020-13-01"}}, "split.test_from"),
        ({"split": {"calibration_folds": 1}}, "split.calibration_folds"),
        ({"scoring": {"harm_bands": [[0.5, "low"], [0.2, "high"]]}}, "scoring.harm_bands"),
        ({"labels": {"harm_groups": ["violent"]}}, "violent"),
    ],
)
def test_unknown_or_malformed_settings_are_refused_with_a_message_naming_them(data, named):
    with pytest.raises(ValueError) as error:
        config_from_dict(data)
    assert named in str(error.value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"gates": {"min_auc": "high"}}, "gates.min_auc: Input should be a valid number"),
        ({"gates": {"min_auc": True}}, "gates.min_auc: expected a number, got True"),
        (
            {"gates": {"calibration_slope": [0.8, 1.0, 1.2]}},
            "gates.calibration_slope: Tuple should have at most 2 items",
        ),
        ({"reoffence_from_counts": 1}, "reoffence_from_counts: Input should be a valid boolean"),
        ({"fairness_thresholds": {"harm": "x"}}, "fairness_thresholds.harm: Input should be a valid number"),
        ({"scoring": 3}, "scoring: Input should be a valid dictionary"),
        ({"extra_numeric": "x"}, "extra_numeric: Input should be a valid tuple"),
        ({"labels": {"window_days": 0}}, "labels.window_days: Input should be greater than or equal to 1"),
        ({"labels": {"waiting_days": False}}, "labels.waiting_days: expected a number of days, got False"),
    ],
)
def test_wrong_types_are_refused_with_the_path_of_the_key(data, message):
    with pytest.raises(ValueError) as error:
        config_from_dict(data)
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)  # one line, for the CLI


def test_every_mistake_is_named_not_only_the_first():
    with pytest.raises(ValueError) as error:
        config_from_dict({"gates": {"min_acu": 0.7}, "seed": "x"})
    message = str(error.value)
    assert "gates.min_acu: unknown setting" in message and "seed: Input should be a valid integer" in message


def test_a_configuration_survives_pickling_with_the_models():
    # the champions (scoring config inside) travel to worker processes by pickle
    config = config_from_dict({"scoring": {"capacity": 20}, "split": {"test_from": "2020-02-01"}})
    again = pickle.loads(pickle.dumps(config))
    assert again == config and again.scoring.capacity == 20 and again.split.test_from == date(2020, 2, 1)


def test_the_configuration_module_needs_no_model_code():
    code = (
        "import sys, riskmodel.modelling.config as c; c.TrainConfig(); "
        "print(sorted(m for m in sys.modules if m in ('lightgbm', 'riskmodel.modelling.models')))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"


def test_load_config_names_the_file_and_the_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"gates": {"min_acu": 0.7}}))
    with pytest.raises(ValueError, match=r"bad\.yaml: gates\.min_acu: unknown setting; known: auc_tolerance, "):
        load_config(bad)


def test_an_empty_file_or_section_means_the_defaults(tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing\n")
    assert load_config(empty) == TrainConfig()
    assert config_from_dict({"gates": None, "labels": None}) == TrainConfig()


def test_train_cli_refuses_a_bad_config_with_one_clear_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"params": {"default": {"num_leafs": 7}}}))
    data = tmp_path / "data"
    data.mkdir()
    result = CliRunner().invoke(
        main,
        ["train", "--data", str(data), "--as-of", "2025-01-01", "--config", str(bad)],
        env={"RISKMODEL_HOME": str(tmp_path / "home")},
    )
    assert result.exit_code == 1  # click.ClickException
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("Error: configuration: ")
    assert "params.default: unknown LightGBM parameter(s) ['num_leafs']" in line
    assert "Traceback" not in result.output


def test_window_flags_override_the_config_file_and_leave_the_rest():
    config = config_from_dict({"labels": {"window_days": 200, "waiting_days": 100}})
    changed = config.with_labels(window_days=300, harm_window_days=None, waiting_days=None)
    assert (changed.labels.window_days, changed.labels.waiting_days) == (300, 100)
    assert changed.labels.harm_window_days == TrainConfig().labels.harm_window_days
    expected = r"^labels\.window_days: Input should be greater than or equal to 1 \(got 0\)$"
    with pytest.raises(ValueError, match=expected):
        config.with_labels(window_days=0)


@pytest.mark.parametrize(
    ("extras", "named"),
    [
        ({"extra_categorical": ["ethnicity"]}, "extra_categorical: 'ethnicity' is audit only"),
        ({"extra_numeric": ["pnc_number"]}, "extra_numeric: 'pnc_number' is a direct identifier (an official number)"),
        ({"extra_categorical": ["Home Postcode"]}, "'Home Postcode' is a direct identifier (contact details)"),
        ({"extra_numeric": ["age_at_release"]}, "'age_at_release' is a contract column"),
        ({"extra_numeric": ["risk", "risk"]}, "a feature is named twice: ['risk']"),
    ],
)
def test_ethnicity_identifiers_and_contract_columns_can_never_be_declared_features(extras, named):
    with pytest.raises(ValueError) as refused:
        config_from_dict(extras)
    assert named in str(refused.value)


def test_a_local_extra_feature_is_still_declared():
    assert config_from_dict({"extra_numeric": ["supervision_risk_score"]}).extra_numeric == ("supervision_risk_score",)

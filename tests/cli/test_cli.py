"""The command line: options come from the configs, errors are one line and exit 2."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from scvae.cli import apply_defaults_profile, build_parser, main
from scvae.cli.options import build_config
from scvae.config import AnalysisConfig, DataConfig, EvaluationConfig, ModelConfig, TrainingConfig


def _parse(*argv: str):
    parser = build_parser()
    apply_defaults_profile(parser, argv)
    return parser.parse_args(list(argv))


@pytest.mark.parametrize(
    ("command", "classes"),
    [
        ("analyse", (DataConfig, AnalysisConfig)),
        ("train", (DataConfig, ModelConfig, TrainingConfig)),
        ("evaluate", (DataConfig, ModelConfig, EvaluationConfig, AnalysisConfig)),
    ],
)
def test_defaults_come_from_the_configs(command, classes):
    namespace = _parse(command, "x")
    for config_class in classes:
        assert build_config(namespace, config_class) == config_class()


def test_manual_defaults():
    # values listed under "Argument defaults" in the original's manual: one switch away
    namespace = _parse("train", "x", "--defaults", "2.1.4")
    model = build_config(namespace, ModelConfig)
    training, data = build_config(namespace, TrainingConfig), DataConfig()
    assert model == ModelConfig.with_defaults("2.1.4")
    assert model.library_size == "none" and model.mixture_initialisation_epoch == 0
    assert (model.model_type, model.latent_size, model.hidden_sizes) == ("VAE", 2, (100,))
    assert model.reconstruction_distribution == "poisson"
    assert model.minibatch_normalisation is True
    assert (training.number_of_epochs, training.minibatch_size) == (200, 100)
    assert training.learning_rate == 1e-4 and training.defaults == "2.1.4"
    assert (data.splitting_method, data.splitting_fraction) == ("default", 0.9)
    assert EvaluationConfig().evaluation_set_kind == "test"
    assert AnalysisConfig().included_analyses == ("standard",)


def test_given_options_win_over_the_defaults_profile():
    namespace = _parse("train", "x", "--defaults=2.1.4", "-l", "7", "--learning-rate", "0.01")
    model, training = build_config(namespace, ModelConfig), build_config(namespace, TrainingConfig)
    assert (model.latent_size, model.hidden_sizes, training.learning_rate) == (7, (100,), 0.01)
    current = build_config(_parse("train", "x"), ModelConfig)
    assert (current.reconstruction_distribution, current.latent_size) == ("negative_binomial", 10)


def test_paper_command_line_parses():
    namespace = _parse(
        "train",
        "10x-PBMC-PP",
        "--split-data-set",
        "-m",
        "GMVAE",
        "-r",
        "negative_binomial",
        "-l",
        "100",
        "-H",
        "100",
        "100",
        "-w",
        "200",
        "-e",
        "500",
    )
    model = build_config(namespace, ModelConfig)
    assert model.model_type == "GMVAE"
    assert model.hidden_sizes == (100, 100)
    assert (model.latent_size, model.number_of_warm_up_epochs) == (100, 200)
    assert build_config(namespace, TrainingConfig).number_of_epochs == 500
    assert build_config(namespace, DataConfig).split_data_set is True


def test_nargs_short_names_and_toggles():
    namespace = _parse(
        "train",
        "x",
        "-F",
        "keep_highest_variances",
        "5000",
        "--no-minibatch-normalisation",
        "--number-of-importance-samples",
        "5",
        "10",
        "-m",
        "gmvae",
        "--bc",
    )
    assert build_config(namespace, DataConfig).feature_selection == (
        "keep_highest_variances",
        "5000",
    )
    model = build_config(namespace, ModelConfig)
    assert model.minibatch_normalisation is False
    assert model.number_of_importance_samples == (5, 10)
    assert model.model_type == "GMVAE"
    assert model.batch_correction is True


def test_every_config_field_is_an_option():
    parser = build_parser()
    text = "".join(
        action.format_help() for action in parser._subparsers._group_actions[0].choices.values()
    )
    for config_class in (DataConfig, ModelConfig, TrainingConfig, EvaluationConfig, AnalysisConfig):
        for field in dataclasses.fields(config_class):
            assert field.metadata["flags"][0] in text, field.name


def test_version():
    result = subprocess.run(
        [sys.executable, "-m", "scvae", "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.startswith("scvae ")


def test_missing_input_is_one_line(tmp_path, capsys):
    code = main(["analyse", str(tmp_path / "nope.tsv"), "-D", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nope.tsv" in err


def test_invalid_choice_exits_2(capsys):
    assert main(["train", "x", "-m", "AE"]) == 2
    assert capsys.readouterr().err.startswith("scvae: error: argument --model-type/-m")

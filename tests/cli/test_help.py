"""``--help`` lists the accepted names from their tables and prints defaults once, plainly."""

from __future__ import annotations

import re

import pytest

from scvae.analyses.decompositions import METHOD_ALIASES
from scvae.analyses.selection import ALL
from scvae.cli import main
from scvae.config import ModelConfig, TrainingConfig
from scvae.data.preprocessing import PREPROCESSING_METHODS
from scvae.data.processing import EXAMPLE_FILTER_METHODS, FEATURE_SELECTION_METHODS
from scvae.distributions.registry import LIKELIHOODS, canonical_name
from scvae.models.naming import GMVAE_LATENT_DISTRIBUTIONS, VAE_LATENT_DISTRIBUTIONS


def _help(capsys, *argv: str) -> str:
    assert main([*argv, "--help"]) == 0
    return capsys.readouterr().out


def _option_help(text: str, flag: str) -> str:
    """The help paragraph of the option whose flags include ``flag``."""
    paragraphs = re.split(r"\n(?=  -)", text)
    found = [p for p in paragraphs if re.search(rf"(^|[ ,]){re.escape(flag)}[ ,\n]", p)]
    assert found, flag
    return " ".join(found[0].split())


@pytest.fixture(scope="module")
def train_help() -> str:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["train", "--help"]) == 0
    return out.getvalue()


def _listed(paragraph: str) -> str:
    return paragraph.split("choose from", 1)[1]


def test_likelihoods_and_aliases_listed(train_help):
    paragraph = _option_help(train_help, "-r")
    for name in LIKELIHOODS:
        assert re.search(rf"\b{name}\b", _listed(paragraph)), name
    assert canonical_name("nb") == "negative_binomial"
    assert "negative_binomial (or nb)" in paragraph
    assert "zero_inflated_negative_binomial (or zinb)" in paragraph
    assert paragraph.endswith(f"(default: {ModelConfig().reconstruction_distribution})")


@pytest.mark.parametrize(
    ("flag", "names"),
    [
        ("-p", PREPROCESSING_METHODS),
        ("--np", PREPROCESSING_METHODS),
        ("-F", FEATURE_SELECTION_METHODS),
        ("-E", EXAMPLE_FILTER_METHODS),
        ("-q", VAE_LATENT_DISTRIBUTIONS + GMVAE_LATENT_DISTRIBUTIONS[:2]),
    ],
)
def test_data_and_model_choices_listed(train_help, flag, names):
    listed = _listed(_option_help(train_help, flag))
    for name in names:
        assert re.search(rf"\b{name}\b", listed), (flag, name)


def test_evaluation_choices_listed(capsys):
    text = _help(capsys, "evaluate")
    decompositions = _listed(_option_help(text, "--decomposition-methods"))
    for name in set(METHOD_ALIASES.values()):
        assert name in decompositions
    analyses = _listed(_option_help(text, "--included-analyses"))
    for name in ("simple", "standard", "all", *ALL):
        assert re.search(rf"\b{name}\b", analyses), name
    prediction = _listed(_option_help(text, "-P"))
    assert "kmeans" in prediction and "model" in prediction
    versions = _listed(_option_help(text, "--model-versions"))
    assert "best_model" in versions and "end_of_training" in versions


@pytest.mark.parametrize("command", ["analyse", "train", "evaluate", "info"])
def test_defaults_are_plain_and_once(capsys, command):
    text = _help(capsys, command)
    assert "(default: ()" not in text and "(default: None)" not in text
    assert "(default: ('" not in text and "(default: [" not in text
    assert "(default: True)" not in text and "(default: False)" not in text
    for paragraph in re.split(r"\n(?=  -)", text):
        assert paragraph.count("(default:") <= 1, paragraph


def test_human_defaults(train_help, capsys):
    hidden = " ".join(str(size) for size in ModelConfig().hidden_sizes)
    assert _option_help(train_help, "-H").endswith(f"(default: {hidden})")
    assert _option_help(train_help, "-b").endswith("(default: on)")
    rate = TrainingConfig().learning_rate
    assert _option_help(train_help, "--learning-rate").endswith(f"(default: {rate:g})")
    assert _option_help(train_help, "--device").endswith("(default: auto)")
    assert "cuda:N" in _option_help(train_help, "--device")
    evaluate = _help(capsys, "evaluate")
    assert _option_help(evaluate, "--included-analyses").endswith("(default: standard)")
    assert _option_help(evaluate, "--model-versions").endswith("(default: all)")


def test_help_starts_with_a_short_usage(train_help):
    assert train_help.startswith("usage: scvae train DATA [options]\n")


def test_evaluate_help_lists_ignored_training_options(capsys):
    text = _help(capsys, "evaluate")
    section = text.split("training-only options:", 1)[1]
    assert "ignored" in section.split("\n\n")[0] + section.split("\n\n")[1]
    for flag in ("--number-of-epochs", "--early-stopping"):
        assert flag in section
    # the learning rate tells runs of one model folder apart, so evaluate uses it
    assert "--learning-rate" not in section and "--learning-rate" in text

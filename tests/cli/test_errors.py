"""Bad command lines: one ``scvae: error:`` line and a one-line usage hint, exit 2."""

from __future__ import annotations

import pytest
import torch

from scvae.cli import build_parser, main
from scvae.cli.options import build_config
from scvae.config import AnalysisConfig, DataConfig, EvaluationConfig, ModelConfig, TrainingConfig


def _error(capsys, argv: list[str]) -> list[str]:
    """Run ``argv``, check exit 2 and the two-line shape; return the stderr lines."""
    code = main(argv)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert "Traceback" not in err
    assert 1 <= len(lines) <= 2, err
    assert lines[0].startswith("scvae: error: "), err
    if len(lines) == 2:
        assert lines[1].startswith("usage: scvae") and "--help" in lines[1], err
    return lines


# argv -> text the error line must contain
BAD_VALUES = {
    "negative learning rate": (["--learning-rate", "-1"], "greater than 0"),
    "zero learning rate": (["--learning-rate", "0"], "greater than 0"),
    "NaN learning rate": (["--learning-rate", "nan"], "greater than 0"),
    "word as learning rate": (["--learning-rate", "fast"], "expected a number"),
    "zero minibatch size": (["-B", "0"], "at least 1"),
    "fractional minibatch size": (["-B", "1.5"], "whole number"),
    "zero threads": (["--threads", "0"], "at least 1"),
    "zero epochs": (["-e", "0"], "at least 1"),
    "negative epochs": (["-e", "-3"], "at least 1"),
    "zero latent size": (["-l", "0"], "at least 1"),
    "zero hidden size": (["-H", "100", "0"], "at least 1"),
    "zero classes": (["-K", "0"], "at least 1"),
    "zero processes": (["--processes", "0"], "at least 1"),
    "splitting fraction 1": (["--splitting-fraction", "1"], "(0, 1)"),
    "splitting fraction 0": (["--splitting-fraction", "0"], "(0, 1)"),
    "keep probability above 1": (["--dropout-keep-probabilities", "1.2"], "[0, 1]"),
    "negative warm-up": (["-w", "-1"], "at least 0"),
    "negative seed": (["--seed", "-1"], "at least 0"),
    "negative KL weight": (["--kl-weight", "-0.5"], "at least 0"),
    "negative mixture-weight smoothing": (["--mixture-weight-smoothing", "-1"], "at least 0"),
    "negative revival interval": (["--component-revival-interval", "-1"], "at least 0"),
    "unknown device": (["--device", "gpu"], "cuda:N"),
    "misspelt likelihood": (["-r", "negative_binomal"], "did you mean negative_binomial?"),
    "misspelt preprocessing": (["-p", "lgo"], "did you mean log?"),
    "misspelt noisy preprocessing": (["--np", "binarize"], "did you mean binarise?"),
    "misspelt feature selection": (
        ["-F", "keep_highest_variance", "500"],
        "did you mean keep_highest_variances?",
    ),
    "misspelt example filter": (["-E", "macosco"], "did you mean macosko?"),
    "misspelt latent distribution": (["-q", "gausian"], "did you mean gaussian?"),
    "misspelt model type": (["-m", "GMAVE"], "did you mean GMVAE?"),
    "misspelt option": (["--learnin-rate", "1"], "did you mean --learning-rate?"),
    "unknown option": (["--no-such-option"], "unrecognised arguments: --no-such-option"),
}


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_bad_training_values(case, capsys):
    argv, expected = BAD_VALUES[case]
    lines = _error(capsys, ["train", "data.tsv", *argv])
    assert expected in lines[0]
    assert lines[1] == "usage: scvae train DATA [options]; see scvae train --help"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--sample-size", "-1"], "at least 0"),
        (["-P", "kmean"], "did you mean kmeans?"),
        (["--model-versions", "best_modle"], "did you mean best_model?"),
        (["--decomposition-methods", "pcaa"], "did you mean pca?"),
        (["--included-analyses", "standrad"], "did you mean standard?"),
        (["--evaluation-set-kind", "tset"], "did you mean test?"),
    ],
)
def test_bad_evaluation_values(argv, expected, capsys):
    lines = _error(capsys, ["evaluate", "data.tsv", *argv])
    assert expected in lines[0]


def test_misspelt_sub_command(capsys):
    lines = _error(capsys, ["trian", "data.tsv"])
    assert "invalid choice 'trian'; did you mean train?" in lines[0]
    assert lines[1] == "usage: scvae COMMAND [options]; see scvae --help"


def test_misspelt_data_action(capsys):
    lines = _error(capsys, ["data", "lst"])
    assert "did you mean list?" in lines[0]


def test_missing_data_argument(capsys):
    lines = _error(capsys, ["train"])
    assert "required: DATA" in lines[0]


def test_no_sub_command(capsys):
    lines = _error(capsys, [])
    assert "COMMAND" in lines[0]


def test_far_miss_gets_no_suggestion(capsys):
    lines = _error(capsys, ["train", "x", "-r", "zzzzzz"])
    assert "did you mean" not in lines[0]
    assert "poisson" in lines[0]  # the accepted names are listed


@pytest.mark.skipif(
    getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available(),
    reason="MPS is available here",
)
def test_unavailable_mps(capsys):
    lines = _error(capsys, ["train", "x", "--device", "mps"])
    assert "MPS" in lines[0] and "not available" in lines[0]


def test_unavailable_cuda_device(capsys):
    index = torch.cuda.device_count() if torch.cuda.is_available() else 1
    lines = _error(capsys, ["train", "x", "--device", f"cuda:{index}"])
    assert f"cuda:{index}" in lines[0]


@pytest.mark.parametrize("device", ["auto", "cpu", "CPU"])
def test_devices_accepted(device):
    namespace = build_parser().parse_args(["train", "x", "--device", device])
    assert build_config(namespace, TrainingConfig).device == device.lower()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
def test_cuda_index_accepted():
    namespace = build_parser().parse_args(["train", "x", "--device", "cuda:0"])
    assert build_config(namespace, TrainingConfig).device == "cuda:0"


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [
        ("nb", "negative_binomial"),
        ("zinb", "zero_inflated_negative_binomial"),
        ("Negative-Binomial", "negative_binomial"),
        ("poisson", "poisson"),
    ],
)
def test_likelihood_aliases_become_the_canonical_name(alias, canonical):
    namespace = build_parser().parse_args(["train", "x", "-r", alias])
    assert build_config(namespace, ModelConfig).reconstruction_distribution == canonical


def test_method_names_are_normalised():
    namespace = build_parser().parse_args(
        ["evaluate", "x", "-F", "Keep-Highest-Variances", "500", "-P", "k-means"]
        + ["--decomposition-methods", "PCA", "t-SNE", "--model-versions", "eot", "best"]
    )
    assert build_config(namespace, DataConfig).feature_selection == (
        "keep_highest_variances",
        "500",
    )
    evaluation = build_config(namespace, EvaluationConfig)
    assert evaluation.prediction_method == "kmeans"
    assert evaluation.model_versions == ("end_of_training", "best_model")
    assert build_config(namespace, AnalysisConfig).decomposition_methods == ("pca", "t_sne")


def test_valid_boundaries_accepted():
    namespace = build_parser().parse_args(
        ["train", "x", "--splitting-fraction", "0.5", "--dropout-keep-probabilities", "0", "1"]
        + ["-B", "1", "-e", "1", "--threads", "1", "--learning-rate", "1e-9", "-w", "0"]
    )
    assert build_config(namespace, DataConfig).splitting_fraction == 0.5
    model = build_config(namespace, ModelConfig)
    assert model.dropout_keep_probabilities == (0.0, 1.0)
    training = build_config(namespace, TrainingConfig)
    assert (training.minibatch_size, training.number_of_epochs, training.threads) == (1, 1, 1)


def test_missing_umap_is_named(capsys, monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "umap" else real_find_spec(name, *a),
    )
    code = main(["analyse", "x", "--decomposition-methods", "pca", "umap"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and "umap-learn" in err, err


def test_missing_umap_is_logged_once_from_python(caplog, monkeypatch):
    import builtins

    import numpy as np

    from scvae.analyses import decompositions

    real_import = builtins.__import__

    def no_umap(name, *args, **kwargs):
        if name == "umap":
            raise ImportError("No module named 'umap'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_umap)
    decompositions._warn_once.cache_clear()
    values = np.random.default_rng(0).normal(size=(20, 5))
    with caplog.at_level("WARNING", logger="scvae.analyses.decompositions"):
        assert decompositions.decompose(values, "umap") is None
        assert decompositions.decompose(values, "umap") is None
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 1 and "umap-learn" in warnings[0]


def test_range_errors_name_the_option_first(capsys):
    lines = _error(capsys, ["train", "x", "--processes", "0"])
    assert lines[0] == "scvae: error: --processes must be at least 1; got 0"


def test_options_the_model_refuses_leave_no_run_folder(tmp_path, capsys):
    """A combination only the model builder refuses: one error line, and no run folder."""
    import numpy as np

    data = tmp_path / "counts.tsv"
    counts = np.random.default_rng(0).poisson(2.0, size=(40, 12))
    header = "\t".join(f"g{j}" for j in range(12))
    rows = [f"c{i}\t" + "\t".join(map(str, row)) for i, row in enumerate(counts)]
    data.write_text("cell\t" + header + "\n" + "\n".join(rows) + "\n")
    models = tmp_path / "models"
    argv = ["train", str(data), "-M", str(models), "-m", "GMVAE", "-K", "3"]
    lines = _error(
        capsys,
        [*argv, "--prior-probabilities-method", "kmeans", "--mixture-initialisation-epoch", "0"],
    )
    assert "--mixture-initialisation-epoch 1 or more" in lines[0]
    written = [path for path in models.rglob("*") if path.is_file()] if models.exists() else []
    assert written == []

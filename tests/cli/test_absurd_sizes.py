"""Absurd model sizes on the command line: one error line before anything is allocated."""

from __future__ import annotations

import numpy as np
import pytest

from scvae.cli import main
from scvae.config import ModelConfig
from scvae.models.build import build_module, parameter_estimate


def _toy(folder):
    counts = np.random.default_rng(0).poisson(2.0, (40, 12))
    path = folder / "toy.tsv"
    lines = ["\t" + "\t".join(f"g{j}" for j in range(12))]
    lines += [f"c{i}\t" + "\t".join(map(str, row)) for i, row in enumerate(counts)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    "sizes",
    [
        ["-l", "1000000000"],
        ["-H", "1000000000"],
        ["-H", "100000", "100000"],
        ["-m", "GMVAE", "-K", "1000000000"],
    ],
    ids=["latent", "hidden", "two hidden", "components"],
)
def test_absurd_sizes_are_refused_in_one_line(tmp_path, monkeypatch, capsys, sizes):
    monkeypatch.chdir(tmp_path)
    data = _toy(tmp_path)
    status = main(["train", str(data), *sizes, "-e", "1", "--quiet", "-M", "m", "-A", "a"])
    assert status == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("scvae: error:")
    assert "parameters" in err[0] and "smaller" in err[0]
    assert not list((tmp_path / "m").rglob("checkpoint.pt"))


@pytest.mark.parametrize(
    ("model_type", "hidden", "k", "batches"),
    [
        ("VAE", (32,), 1, 0),
        ("VAE", (64, 16), 1, 3),
        ("GMVAE", (32,), 5, 0),
        ("GMVAE", (16, 8), 3, 2),
    ],
)
def test_parameter_estimate_is_close_to_the_built_model(model_type, hidden, k, batches):
    config = ModelConfig(
        model_type=model_type,
        reconstruction_distribution="negative_binomial",
        latent_size=6,
        hidden_sizes=hidden,
    )
    module = build_module(config, 50, number_of_classes=k, number_of_batches=batches)
    built = sum(parameter.numel() for parameter in module.parameters())
    assert built / 3 <= parameter_estimate(config, 50, k, batches) <= 3 * built

"""Moving the GMVAE's empty components onto halves of its widest clusters."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score

from scvae import api
from scvae.config import DataConfig, ModelConfig, TrainingConfig
from scvae.models import build_module
from scvae.models.naming import model_name
from scvae.training import fit as fit_module
from scvae.training.checkpoints import load_checkpoint
from scvae.training.parallel import SINGLE
from scvae.training.priors import (
    EMPTY_SHARE,
    VARIANCE_FLOOR,
    align_assignments,
    revive_components,
    split_widest,
)

L = 3


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _blobs() -> tuple[np.ndarray, np.ndarray]:
    """Blobs of 60, 50 and 40 points, the first twice as wide as the others; returns
    (values, blob of each point)."""
    rng = np.random.default_rng(1)
    centres = np.array([[0.0, 0.0], [8.0, 0.0], [0.0, 8.0]])
    blobs = np.repeat([0, 1, 2], [60, 50, 40])
    scales = np.array([0.6, 0.3, 0.3])[blobs, None]
    return centres[blobs] + scales * rng.normal(size=(len(blobs), 2)), blobs


def test_each_empty_component_takes_one_half_of_the_widest_cluster() -> None:
    values, blobs = _blobs()
    labels = np.where(blobs == 0, 1, 0)  # cluster 0 holds blobs 1 and 2; 2 and 3 are empty
    revival = split_widest(values, labels, 4, seed=0)
    np.testing.assert_array_equal(revival.components, [2, 3])
    # the widest cluster (two blobs) is split first; it keeps the larger blob
    assert revival.sources[0] == 0
    assert (revival.labels[blobs == 1] == 0).all() and (revival.labels[blobs == 2] == 2).all()
    assert revival.shares[0] == pytest.approx(40 / 90)
    # then the widest of the three single blobs: blob 0
    assert revival.sources[1] == 1
    halves = revival.labels[blobs == 0]
    assert set(halves) == {1, 3}
    assert revival.shares[1] == pytest.approx((halves == 3).mean())
    assert adjusted_rand_score(blobs[blobs != 0], revival.labels[blobs != 0]) == 1.0
    # every component whose cells changed gets their mean and variance
    np.testing.assert_array_equal(revival.placed, [0, 1, 2, 3])
    for row, cluster in enumerate(revival.placed):
        part = values[revival.labels == cluster]
        np.testing.assert_allclose(revival.means[row], part.mean(0))
        np.testing.assert_allclose(revival.variances[row], np.maximum(part.var(0), VARIANCE_FLOOR))


def test_nothing_moves_when_every_component_holds_cells() -> None:
    values, blobs = _blobs()
    revival = split_widest(values, blobs, 3, seed=0)
    assert len(revival.components) == 0
    np.testing.assert_array_equal(revival.labels, blobs)


def test_a_component_below_the_empty_share_counts_as_empty() -> None:
    values, blobs = _blobs()
    labels = blobs.copy()
    few = int(np.ceil(EMPTY_SHARE * len(values))) - 1  # 0 here: 150 cells
    labels[np.flatnonzero(blobs == 2)[few:]] = 1
    revival = split_widest(values, labels, 3, seed=0)
    np.testing.assert_array_equal(revival.components, [2])


def test_an_emptied_component_comes_back_with_a_cell_type(
    cells_in_file_order, three_cell_types
) -> None:
    groups, counts = three_cell_types(1500)
    config = ModelConfig(
        model_type="GMVAE", latent_size=L, hidden_sizes=(16,), minibatch_normalisation=False
    )
    module = build_module(config, 21, number_of_classes=3)
    cells, cpu = cells_in_file_order(counts), torch.device("cpu")
    merged = np.where(groups == 0, 1, 0)  # component 2 holds nothing
    align_assignments(module, cells, merged, 100, cpu)
    with torch.no_grad():  # and q(y|x) never picks it
        module.y_encoder.heads.block.linear.bias[2] -= 30.0
    moved = revive_components(module, cells, 0, 100, cpu, SINGLE)
    np.testing.assert_array_equal(moved, [2])
    module.eval()
    with torch.no_grad():
        assigned = module.posterior_y_logits(torch.log1p(counts)).argmax(1).numpy()
    assert adjusted_rand_score(groups, assigned) > 0.9


def test_the_vae_has_nothing_to_move(cells_in_file_order) -> None:
    module = build_module(ModelConfig(latent_size=L, hidden_sizes=(8,)), 21)
    counts = torch.ones(10, 21)
    moved = revive_components(
        module, cells_in_file_order(counts), 0, 5, torch.device("cpu"), SINGLE
    )
    assert len(moved) == 0


@pytest.mark.parametrize(
    ("placement", "interval", "total", "expected"),
    [
        (5, 5, 30, [10, 15, 20, 25]),
        (5, 10, 30, [15]),
        (5, 0, 30, []),
        (0, 4, 12, [4, 8]),
    ],
)
def test_moves_come_every_interval_after_the_placement_while_as_many_epochs_remain(
    placement, interval, total, expected
) -> None:
    module = SimpleNamespace(
        component_revival_interval=interval, mixture_initialisation_epoch=placement
    )
    due = [done for done in range(1, total + 1) if fit_module._revival_due(module, done, total)]
    assert due == expected


def test_the_interval_is_recorded_in_the_model_folder_name() -> None:
    config = ModelConfig(model_type="GMVAE")
    assert "cr_5" in model_name(config, 4)  # the default
    assert "cr_3" in model_name(replace(config, component_revival_interval=3), 4)
    assert "cr_" not in model_name(replace(config, component_revival_interval=0), 4)
    assert "cr_" not in model_name(replace(config, model_type="VAE"), 4)


class _Stop(BaseException):
    """Stands for a kill between epochs (not an Exception)."""


def _train(data: Path, models: Path, data_directory: Path, log=lambda *_: None) -> Path:
    model = ModelConfig(
        model_type="GMVAE",
        number_of_classes=6,
        latent_size=2,
        hidden_sizes=(8,),
        mixture_initialisation_epoch=1,
        component_revival_interval=1,
    )
    training = TrainingConfig(
        number_of_epochs=4, models_directory=str(models), seed=3, threads=1, minibatch_size=20
    )
    return api.train(
        str(data),
        DataConfig(data_directory=str(data_directory), split_data_set=True),
        model,
        training,
        progress=False,
        log=log,
    )


def test_a_run_stopped_after_a_move_resumes_to_the_same_model(tmp_path, monkeypatch) -> None:
    import anndata

    rng = np.random.default_rng(0)
    programmes = np.repeat(rng.gamma(2.0, 2.0, size=(3, 15)), [60, 50, 40], axis=0)
    data = tmp_path / "cells.h5ad"
    anndata.AnnData(rng.poisson(programmes).astype(np.float32)).write_h5ad(data)
    moves = []
    revive = fit_module.revive_components

    def counted(*args, **kwargs):
        moved = revive(*args, **kwargs)
        moves.append(len(moved))
        return moved

    monkeypatch.setattr(fit_module, "revive_components", counted)
    lines = []
    reference = _train(data, tmp_path / "reference", tmp_path / "d", lines.append)
    assert len(moves) == 2 and sum(moves) > 0  # after epochs 2 and 3, something moved
    said = [index for index, line in enumerate(lines) if str(line).startswith("After epoch")]
    assert len(said) == sum(1 for count in moves if count)
    for index in said:  # each move is told right after the line of its epoch
        epoch = lines[index].split()[2].rstrip(":")
        assert "onto halves" in lines[index]
        assert str(lines[index - 1]).startswith("Epoch") and f"{epoch}/4" in lines[index - 1]
    after_epoch = fit_module._after_epoch

    def stop_after_the_second(module, optimiser, run, epoch, *args):
        if epoch == 2:
            raise _Stop
        after_epoch(module, optimiser, run, epoch, *args)

    with monkeypatch.context() as patch:
        patch.setattr(fit_module, "_after_epoch", stop_after_the_second)
        with pytest.raises(_Stop):
            _train(data, tmp_path / "stopped", tmp_path / "d")
    run = _train(data, tmp_path / "stopped", tmp_path / "d")
    expected = load_checkpoint(reference / "checkpoint.pt")["model"]
    actual = load_checkpoint(run / "checkpoint.pt")["model"]
    assert expected.keys() == actual.keys()
    for name in expected:
        assert torch.equal(expected[name], actual[name]), name

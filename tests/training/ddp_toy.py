"""A deterministic toy model trained by ``fit``, alone or under torchrun (test helper).

Run as ``torchrun --nproc_per_node=2 tests/training/ddp_toy.py OUT TOY.h5ad``: every
process trains the same toy regression through :func:`scvae.training.fit.fit`; the
main process writes the final weights and the learning curves to ``OUT``.
Without random draws in the model, one process and two must end with the same
weights (up to the order of floating-point sums). Each is trained in memory and from
the file, with every example evaluated after each epoch and with a fixed subsample of
:data:`SAMPLED` examples (each process evaluating its part of it).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from scvae.models.base import LossOutput
from scvae.nn.inputs import ModelInputs
from scvae.training.fit import FitOptions, LabelledSource, fit

EXAMPLES, FEATURES = 103, 12
MINIBATCH = 10  # 103 = 10 x 10 + 3: the last minibatch splits 2 + 1 over two processes
SAMPLED = 40  # examples of the per-epoch evaluation's subsample
#: name -> (from the file, per-epoch evaluation limit)
VARIANTS = {
    "memory": (False, 0),
    "backed": (True, 0),
    "sampled": (False, SAMPLED),
    "sampled_backed": (True, SAMPLED),
}


class ToyRegression(torch.nn.Module):
    """Predicts the last feature from the others; the bound is minus the squared error."""

    def __init__(self) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.linear = torch.nn.Linear(FEATURES - 1, 1)
        with torch.no_grad():
            self.linear.weight.copy_(torch.randn(1, FEATURES - 1, generator=generator))
            self.linear.bias.zero_()

    def forward(self, inputs: ModelInputs, *, kl_scale: float = 1.0, samples=(1, 1)) -> LossOutput:
        prediction = self.linear(inputs.x[:, :-1]).squeeze(1)
        error = (prediction - inputs.x[:, -1]) ** 2
        return LossOutput(
            loss=error.mean(),
            lower_bound=-error,
            reconstruction_error=-error,
            kl={"kl_divergence": torch.zeros_like(error)},
        )


def toy_values() -> sp.csr_matrix:
    rng = np.random.default_rng(1)
    values = rng.poisson(1.0, size=(EXAMPLES, FEATURES)).astype(np.float32)
    values[:, -1] = values[:, :-1] @ rng.normal(size=FEATURES - 1) * 0.3
    values[:, -1] = np.round(np.abs(values[:, -1]))
    return sp.csr_matrix(values)


def toy_source(backed_path: str | None = None):
    """The toy examples in memory, or read from ``backed_path`` (an h5ad file)."""
    from scvae.data.batches import RowSource

    if backed_path is None:
        values = toy_values()
        library = np.asarray(values.sum(axis=1), dtype=np.float32).reshape(-1)
        return RowSource(values, library, None, None, 0)
    from scvae.data.matrix import open_hdf

    matrix = open_hdf(backed_path, "X")
    matrix.facts()
    source = RowSource(matrix, matrix.row_sums(), None, None, 0)
    source.block_rows, source.buffer_blocks = 16, 2
    return source


def train(
    run: Path, backed_path: str | None = None, evaluation_cells: int = 0
) -> tuple[dict, list[dict]]:
    """Train the toy model for 3 epochs; return its final weights and the curves."""
    from scvae.training.parallel import current

    torch.manual_seed(0)
    module = ToyRegression()
    options = FitOptions(
        number_of_epochs=3,
        minibatch_size=MINIBATCH,
        learning_rate=0.05,
        seed=4,
        progress=False,
        processes=current(),
        evaluation_cells=evaluation_cells,
    )
    rows = fit(module, LabelledSource(toy_source(backed_path)), None, run, options)
    weights = {name: value.tolist() for name, value in module.state_dict().items()}
    return weights, rows


def main(out: str, backed_path: str) -> None:
    """Train in memory, then from the backed file, writing ``OUT/result.json``."""
    from scvae.training.parallel import distributed_session

    with distributed_session("cpu") as processes:
        result: dict = {"world_size": processes.world_size}
        for name, (backed, cells) in VARIANTS.items():
            weights, rows = train(Path(out) / name, backed_path if backed else None, cells)
            result[name] = {"weights": weights, "rows": rows}
        if processes.is_main:
            (Path(out) / "result.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

"""Intermediate plots while training (``scvae train -A DIR``), drawn by an epoch callback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

#: at most this many examples are encoded for the latent-space plots
LATENT_EXAMPLES = 2_000


def is_plot_epoch(epoch: int, number_of_epochs: int) -> bool:
    """Whether the 0-based ``epoch`` gets latent-space plots (besides the learning curves)."""
    after = epoch + 1
    return (
        epoch < 10
        or (epoch < 100 and after % 10 == 0)
        or (epoch < 1000 and after % 50 == 0)
        or (epoch > 1000 and after % 100 == 0)
        or after == number_of_epochs
    )


class IntermediatePlots:
    """An ``on_epoch_end`` callback writing ``learning_curves.png`` every epoch and latent
    space (and GMVAE prior probability) plots on plot epochs into ``folder``."""

    def __init__(
        self, folder: Path, module, data, number_of_epochs: int, publication: bool = False
    ) -> None:
        self.folder = Path(folder)
        self.module = module
        self.data = data  # a LabelledSource (validation set, else training set)
        self.number_of_epochs = number_of_epochs
        self.publication = publication

    def __call__(self, epoch: int, rows: list[dict]) -> None:
        import pandas as pd

        from scvae.plotting import plot_learning_curves, save_figure

        curves = pd.DataFrame(rows)
        save_figure(
            plot_learning_curves(curves),
            self.folder / "learning_curves.png",
            publication=self.publication,
        )
        if is_plot_epoch(epoch, self.number_of_epochs):
            self._latent_space(epoch + 1)

    @torch.no_grad()
    def _latent_space(self, epoch: int) -> None:
        from scvae.data.batches import minibatches
        from scvae.plotting import plot_mixture_probabilities, plot_scatter, save_figure

        was_training = self.module.training
        self.module.eval()
        device = next(self.module.parameters()).device
        means, seen = [], 0
        for inputs, _ in minibatches(self.data.source, 500, device=device):
            latent = self.module.latent_mean(inputs)
            means.append((latent[0] if isinstance(latent, tuple) else latent).cpu().numpy())
            seen += inputs.size
            if seen >= LATENT_EXAMPLES:
                break
        z = np.concatenate(means)[:LATENT_EXAMPLES]
        method, points, centroids = "none", z, {}
        if z.shape[1] > 2:
            from sklearn.decomposition import PCA

            pca = PCA(2).fit(z)
            method, points = "pca", pca.transform(z)
            if hasattr(self.module, "prior_centroids"):
                _, prior_means, _ = self.module.prior_centroids()
                if len(prior_means) > 1:
                    centroids = {"centroids": pca.transform(prior_means.cpu().numpy())}
        stem = self.folder / f"latent_space-epoch-{epoch}-{method}"
        title = f"Latent space{' (PCA)' if method == 'pca' else ''}, epoch {epoch}"
        save_figure(plot_scatter(points, title=title, **centroids), stem.with_suffix(".png"))
        colourings = (("labels", "Label"), ("superset_labels", "Label (superset)"))
        for name, legend_title in colourings:
            values = getattr(self.data, name, None)
            if values is not None:
                labels = np.asarray(values)[: len(points)]
                figure = plot_scatter(
                    points, labels=labels, title=title, legend_title=legend_title, **centroids
                )
                save_figure(figure, Path(f"{stem}-{name}.png"))
        if hasattr(self.module, "prior_centroids"):
            weights, _, _ = self.module.prior_centroids()
            figure = plot_mixture_probabilities(
                weights.cpu().numpy(), title=f"Prior mixture weights, epoch {epoch}"
            )
            save_figure(figure, self.folder / f"probabilities-epoch_{epoch}-prior.png")
        self.module.train(was_training)

"""Human titles of the analyses' figures (file names keep the original's tokens)."""

from __future__ import annotations

from pathlib import Path

#: decomposition method token -> its usual spelling
METHOD_NAMES = {"pca": "PCA", "svd": "SVD", "ica": "ICA", "t_sne": "t-SNE", "umap": "UMAP"}

#: figure-name stem -> what the points are
SPACE_TITLES = {
    "latent_space-z": "Latent space",
    "latent_space-y": "Cluster probabilities q(y|x)",
    "reconstructions": "Reconstructed counts",
    "originals": "Original counts and samples from the model",
}

#: prediction method -> its name in legends
PREDICTION_NAMES = {"model": "GMVAE", "kmeans": "k-means"}

#: evaluation or data subset kind -> its name in titles
SET_NAMES = {"full": "all cells", "training": "training set", "validation": "validation set",
             "test": "test set"}  # fmt: skip


def method_name(method: str) -> str:
    """``PCA``, ``t-SNE``, ... for a method token (unknown tokens unchanged)."""
    return METHOD_NAMES.get(method, method)


def space_title(name: str) -> str:
    """``Latent space`` for ``latent_space-z``; ``Original counts, test set`` for
    ``original_space-test``; other names with their dashes and underscores as spaces."""
    if name in SPACE_TITLES:
        return SPACE_TITLES[name]
    if name.startswith("original_space-"):
        kind = name.removeprefix("original_space-")
        return f"Original counts, {SET_NAMES.get(kind, kind)}"
    text = name.replace("-", " ").replace("_", " ")
    return text[:1].upper() + text[1:]


def decomposition_title(name: str, method: str, input_note: str | None = None) -> str:
    """``Latent space (PCA)``; with ``input_note``, e.g. ``... (PCA of log-normalised counts)``."""
    what = method_name(method)
    return f"{space_title(name)} ({what}{' of ' + input_note if input_note else ''})"


def prediction_name(method: str) -> str:
    return PREDICTION_NAMES.get(method, method)


def capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


#: report sections: figure sub-folder -> title, in the order the report shows them
#: ("" is the folder itself: the learning curves of an evaluation)
REPORT_SECTIONS = {
    "latent_space-z": "Latent space",
    "latent_space-y": "Cluster probabilities q(y|x)",
    "": "Learning curves",
    "reconstructions": "Reconstructed counts",
    "originals": "Original counts and samples from the model",
    "profile_comparisons": "Profile comparisons",
    "histograms": "Histograms",
    "histograms-counts": "Histograms of the low counts",
}

#: within a section: figures coloured by these come first, in this order
COLOURING_ORDER = ("-labels", "-predicted_labels", "-predicted_cluster_ids", "-superset_labels",
                   "-batches", "-class-", "-count_sum", "-feature-")  # fmt: skip


def section_title(folder: str) -> str:
    """The report title of a figure sub-folder (``original_space-test`` included)."""
    if folder in REPORT_SECTIONS:
        return REPORT_SECTIONS[folder]
    return space_title(folder) if folder else "Overview"


def figure_rank(stem: str) -> int:
    """Position of a figure within its section by what colours it (uncoloured ones last)."""
    for rank, marker in enumerate(COLOURING_ORDER):
        if marker in stem:
            return rank
    return len(COLOURING_ORDER)


def report_sections(folder: Path) -> dict[str, list[Path]]:
    """The figures under ``folder`` in report order, with human section titles.

    Latent space first, then learning curves, reconstructions, profiles and histograms
    (:data:`~scvae.analyses.titles.REPORT_SECTIONS`); other sub-folders follow in
    name order. Within a section, figures coloured by labels come first.
    """
    from scvae.report.collect import collect, natural_key

    found: dict[str, list[Path]] = {}
    for figures in collect(folder).sections.values():
        for path in figures:
            relative = path.parent.relative_to(folder).as_posix()
            found.setdefault("" if relative == "." else relative, []).append(
                path.relative_to(folder)
            )
    # an analysis report: the decompositions of the data first
    known = sorted((name for name in found if name.startswith("original_space-")), key=natural_key)
    known += [name for name in REPORT_SECTIONS if name in found]
    others = sorted((name for name in found if name not in known), key=natural_key)
    return {
        section_title(name): sorted(
            found[name], key=lambda path: (figure_rank(path.stem), natural_key(path.name))
        )
        for name in known + others
    }

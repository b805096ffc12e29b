"""Every counts file in ../shared/data loads through DataSet with the documented facts.

Expected shapes, label counts and integer status are those stated in
../shared/data/README.md (checked there with numpy/scipy), not values produced here.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from scvae.data import DataSet, load

# path under shared/data, format, (cells, genes), sorted label counts or None
CASES = [
    (
        "scdeepcluster_10x_pbmc4k_top2000/10X_PBMC_top2000.h5",
        "infer",
        (4271, 2000),
        [1292, 702, 606, 459, 450, 332, 295, 135],
    ),
    ("scdeepcluster_mouse_bladder/mouse_bladder_cell_select_2100.h5", "infer", (2100, 20670), None),
    (
        "scdeepcluster_mouse_bladder/mouse_bladder_cell_top2000.h5",
        "infer",
        (2746, 2003),
        [717, 357, 344, 316, 236, 224, 131, 80, 75, 64, 44, 41, 38, 36, 30, 13],
    ),
    (
        "scdeepcluster_worm_neuron/worm_neuron_cell.h5",
        "infer",
        (4186, 13488),
        [1015, 842, 443, 400, 334, 314, 305, 239, 224, 70],
    ),
    (
        "scdcc_cite_cbmc_top2000/CITE_CBMC_counts_top2000.h5",
        "infer",
        (8617, 2000),
        [2293, 1791, 1248, 1089, 608, 350, 273, 230, 182, 119, 114, 105, 96, 70, 49],
    ),
    (
        "scdcc_cite_pbmc_top2000/CITE_PBMC_counts.h5",
        "infer",
        (3762, 2000),
        [1323, 415, 411, 390, 371, 315, 210, 145, 112, 47, 16, 7],
    ),
    (
        "zeisel2015_cortex_first200genes/counts_genes_x_cells.tsv.gz",
        "matrix_fbe",
        (3005, 200),
        None,
    ),
    ("mouse_brain_1M_subset_10k_1000genes", "infer", (10000, 1000), None),
    ("scanpy_10x_testdata/3.0.0/filtered_feature_bc_matrix", "infer", (1107, 507), None),
    ("scanpy_10x_testdata/3.0.0/filtered_feature_bc_matrix.h5", "infer", (1107, 507), None),
    ("scanpy_10x_testdata/1.2.0/filtered_gene_bc_matrices/hg19_chr21", "infer", (12, 343), None),
    ("scanpy_10x_testdata/1.2.0/filtered_gene_bc_matrices_h5.h5", "infer", (12, 343), None),
    ("scvi_retina_tiny_loom/retina.loom", "infer", (25, 1316), [5, 5, 5, 5, 5]),
    ("celltypist_sample_near_integer/sample_cell_by_gene.csv.gz", "infer", (559, 32786), None),
]


@pytest.mark.parametrize(
    ("relative", "fmt", "shape", "label_counts"), CASES, ids=[c[0] for c in CASES]
)
def test_counts_files_load(shared_data, tmp_path, relative, fmt, shape, label_counts):
    data = load(
        DataSet(
            shared_data / relative,
            data_format=fmt,
            directory=tmp_path,
            reconstruction_distribution="negative_binomial",
        )
    )
    assert (data.number_of_examples, data.number_of_features) == shape
    assert data.is_counts
    stored = data.values.data
    assert np.all(stored >= 0) and np.array_equal(stored, np.round(stored))
    if label_counts is None:
        return
    counts = sorted(Counter(data.labels).values(), reverse=True)
    assert counts == label_counts


def test_second_load_reads_the_cache(shared_data, tmp_path):
    path = shared_data / "scdcc_cite_pbmc_top2000/CITE_PBMC_counts.h5"
    first = load(DataSet(path, directory=tmp_path))
    caches = list(tmp_path.rglob("*.h5"))
    assert len(caches) == 1
    mtime = caches[0].stat().st_mtime_ns
    second = load(DataSet(path, directory=tmp_path))
    assert caches[0].stat().st_mtime_ns == mtime
    assert (first.values != second.values).nnz == 0
    assert list(first.labels) == list(second.labels)


def test_not_counts_refused_for_count_likelihood(shared_data, tmp_path):
    from scvae.errors import NotCountsError

    path = shared_data / "pbmc68k_reduced_NOT_COUNTS/10x_pbmc68k_reduced.h5ad"
    with pytest.raises(NotCountsError, match="negative_binomial|counts"):
        load(DataSet(path, directory=tmp_path, reconstruction_distribution="poisson"))
    # a likelihood for real values accepts it
    data = load(DataSet(path, directory=tmp_path, reconstruction_distribution="gaussian"))
    assert data.number_of_examples == 700
    assert not data.is_counts

"""Built-in data sets fetched from a local HTTP server serving tiny look-alike sources.

Each source file is written here by hand (10x tarballs, a Xena matrix with clinical
matrix and probe map, a Macosko matrix with its cluster file); the expected shapes,
labels, counts and mappings are the ones put into those files.
"""

from __future__ import annotations

import gzip
import io
import math
import socket
import tarfile

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp
from local_http import LocalServer

from scvae.cli import main
from scvae.data import DataSet
from scvae.data import download as download_module
from scvae.data.builtin.tenx import read_populations
from scvae.data.catalogue import (
    CATALOGUE,
    MIRROR_VARIABLE,
    PBMC_POPULATIONS,
    file_extension,
    find_built_in,
)
from scvae.data.loading import load_raw
from scvae.data.raw import ReadOptions
from scvae.errors import DataError

GENES = [("ENSG01", "A1"), ("ENSG02", "B2"), ("ENSG03", "C3")]


def _tenx_tarball(counts: np.ndarray, barcodes: list[str], genes=GENES, genome="hg19") -> bytes:
    """A Cell Ranger v2 tarball: genes x cells matrix.mtx, genes.tsv, barcodes.tsv."""
    matrix = io.BytesIO()
    scipy.io.mmwrite(matrix, sp.coo_matrix(counts.T))  # stored genes x cells
    members = {
        f"filtered_gene_bc_matrices/{genome}/matrix.mtx": matrix.getvalue(),
        f"filtered_gene_bc_matrices/{genome}/genes.tsv": "".join(
            f"{i}\t{s}\n" for i, s in genes
        ).encode(),
        f"filtered_gene_bc_matrices/{genome}/barcodes.tsv": "".join(
            f"{b}\n" for b in barcodes
        ).encode(),
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _population_counts(position: int) -> np.ndarray:
    """``position + 1`` cells x 3 genes with distinct, recognisable counts."""
    cells = position + 1
    return np.arange(cells * 3).reshape(cells, 3) % 4 + 10 * position


@pytest.fixture
def server(mirror):
    for position, population in enumerate(PBMC_POPULATIONS):
        barcodes = [f"AAAC{cell}-1" for cell in range(position + 1)]
        path = f"10x/1.1.0/{population}/{population}_filtered_gene_bc_matrices.tar.gz"
        mirror.files[path] = _tenx_tarball(_population_counts(position), barcodes)
    return mirror


# ------------------------------------------------------------------ catalogue
def test_every_title_and_name_is_found_case_and_punctuation_insensitively():
    for name, entry in CATALOGUE.items():
        for spelling in (entry.title, entry.title.lower(), entry.title.upper(), name):
            assert find_built_in(spelling)[0] == name
    assert find_built_in("10x pbmc pp")[0] == "10x_pbmc_pp"
    assert find_built_in("tcga_rsem")[0] == "tcga_rsem"
    assert find_built_in("no-such-set") is None
    expected = {"macosko_mrc", "10x_mbc", "10x_mbc_20k", "10x_pbmc_pp", "10x_pbmc_pl",
                "10x_pbmc_pt", "10x_pbmc_68k", "tcga_rsem", "tcga_kallisto", "development",
                "mnist_original", "mnist_normalised", "mnist_binarised"}  # fmt: skip
    assert set(CATALOGUE) == expected


def test_original_file_names_follow_the_reference_naming(tmp_path):
    files = CATALOGUE["10x_pbmc_pp"].files(tmp_path)
    assert files["CD19+ B cells"] == (
        tmp_path / "10x_pbmc_pp" / "original" / "10x_pbmc_pp-all-cd19+_b_cells.tar.gz"
    )
    tcga = CATALOGUE["tcga_rsem"].files(tmp_path)
    assert tcga["values"].name == "tcga_rsem-values-full.gz"
    assert file_extension("a/gencode.v23.annotation.gene.probeMap.gz") == ".gene.probeMap.gz"
    assert file_extension("x_filtered_gene_bc_matrices.tar.gz") == ".tar.gz"
    assert file_extension("no_extension") == ""


def test_urls_use_the_bases_or_the_mirror(monkeypatch):
    source = CATALOGUE["tcga_rsem"].sources[0]
    monkeypatch.delenv(MIRROR_VARIABLE, raising=False)
    assert source.url == "https://toil.xenahubs.net/download/tcga_gene_expected_count.gz"
    monkeypatch.setenv(MIRROR_VARIABLE, "http://mirror.example/root/")
    assert source.url == "http://mirror.example/root/xena-toil/tcga_gene_expected_count.gz"


# ------------------------------------------------------------------ 10x PBMC
def test_pbmc_pp_stacks_the_nine_populations_in_sorted_order(server, tmp_path):
    raw = load_raw("10x-PBMC-PP", None, tmp_path, ReadOptions())
    order = sorted(PBMC_POPULATIONS.values())
    ids = {label: population for population, label in PBMC_POPULATIONS.items()}
    positions = [list(PBMC_POPULATIONS).index(ids[label]) for label in order]
    expected = np.vstack([_population_counts(p) for p in positions])
    assert raw.shape == (sum(p + 1 for p in range(9)), 3) == (45, 3)
    np.testing.assert_array_equal(raw.values.toarray(), expected)
    assert list(raw.labels) == [
        label for label, p in zip(order, positions, strict=True) for _ in range(p + 1)
    ]
    assert raw.example_names[0] == "AAAC0-1_cd19+_b_cells"
    assert len(set(raw.example_names)) == 45
    assert list(raw.feature_names) == ["A1", "B2", "C3"]
    assert list(raw.feature_ids) == ["ENSG01", "ENSG02", "ENSG03"]
    assert raw.metadata["genome"] == "hg19" and raw.metadata["example type"] == "counts"
    original = tmp_path / "10x_pbmc_pp" / "original"
    assert len(list(original.glob("10x_pbmc_pp-all-*.tar.gz"))) == 9
    assert not list(original.glob("*.part"))


def test_three_population_sets_reuse_files_already_downloaded(server, tmp_path):
    CATALOGUE["10x_pbmc_pp"].fetch(tmp_path, progress=False)
    server.requests.clear()
    raw = load_raw("10x-PBMC-PT", None, tmp_path, ReadOptions())
    assert server.requests == []
    assert sorted(set(raw.labels)) == sorted(
        PBMC_POPULATIONS[p] for p in ("naive_cytotoxic", "regulatory_t", "naive_t")
    )
    assert raw.shape == (4 + 5 + 9, 3)  # positions 3, 4 and 8 of the population list


def test_populations_must_share_genome_and_genes(tmp_path):
    counts = np.ones((2, 3), dtype=int)
    first = tmp_path / "a.tar.gz"
    first.write_bytes(_tenx_tarball(counts, ["x-1", "y-1"]))
    other_genome = tmp_path / "b.tar.gz"
    other_genome.write_bytes(_tenx_tarball(counts, ["x-1", "y-1"], genome="mm10"))
    other_genes = tmp_path / "c.tar.gz"
    genes = [("ENSG01", "A1"), ("ENSG09", "Z9"), ("ENSG03", "C3")]
    other_genes.write_bytes(_tenx_tarball(counts, ["x-1", "y-1"], genes=genes))
    with pytest.raises(DataError, match="genome 'mm10'"):
        read_populations({"A": first, "B": other_genome}, "t")
    with pytest.raises(DataError, match="different gene list"):
        read_populations({"A": first, "B": other_genes}, "t")


def test_pbmc_68k_takes_cell_types_from_the_barcode_annotations(server, tmp_path):
    counts = np.array([[1, 0, 2], [0, 3, 0], [4, 0, 0]])
    barcodes = ["AAA-1", "CCC-1", "GGG-1"]
    stem = "fresh_68k_pbmc_donor_a"
    server.files[f"10x/1.1.0/{stem}/{stem}_filtered_gene_bc_matrices.tar.gz"] = _tenx_tarball(
        counts, barcodes
    )
    server.files["10x-paper/pbmc68k_analysis/68k_pbmc_barcodes_annotation.tsv"] = (
        b"TSNE.1\tTSNE.2\tbarcodes\tcelltype\n"
        b"0.5\t1.5\tGGG-1\tCD14+ Monocyte\n"
        b"2.5\t-1\tAAA-1\tCD56+ NK\n"
    )
    raw = load_raw("10x-pbmc-68k", None, tmp_path, ReadOptions())
    np.testing.assert_array_equal(raw.values.toarray(), counts)
    assert list(raw.labels) == ["CD56+ NK", "No class", "CD14+ Monocyte"]


def test_mbc_20k_reads_a_cell_ranger_v2_h5(server, tmp_path):
    import h5py

    counts = sp.csc_matrix(np.array([[0, 5], [7, 0], [1, 1]]))  # genes x cells
    path = tmp_path / "neurons.h5"
    with h5py.File(path, "w") as file:
        group = file.create_group("mm10")
        for key in ("data", "indices", "indptr"):
            group[key] = getattr(counts, key)
        group["shape"] = np.array(counts.shape)
        group["barcodes"] = np.array([b"AC-1", b"GT-1"])
        group["genes"] = np.array([b"ENSMUSG1", b"ENSMUSG2", b"ENSMUSG3"])
        group["gene_names"] = np.array([b"Xkr4", b"Rp1", b"Sox17"])
    server.files["10x/1.3.0/1M_neurons/1M_neurons_neuron20k.h5"] = path.read_bytes()
    raw = load_raw("10x-MBC-20k", None, tmp_path / "data", ReadOptions())
    np.testing.assert_array_equal(raw.values.toarray(), [[0, 7, 1], [5, 0, 1]])
    assert list(raw.feature_names) == ["Xkr4", "Rp1", "Sox17"]
    assert raw.labels is None


# ------------------------------------------------------------------ TCGA
TCGA_COUNTS = {"S1": [0, 1, 1000], "S2": [3, 0, 7], "S3": [15, 2, 0]}  # sample -> 3 genes


def _serve_tcga(server) -> None:
    ids = ["ENSG1.1", "ENSG2.4", "ENSG3.2"]
    lines = ["sample\t" + "\t".join(TCGA_COUNTS)]
    for gene, row in enumerate(ids):
        logs = [f"{math.log2(TCGA_COUNTS[s][gene] + 1):.4f}" for s in TCGA_COUNTS]
        lines.append(row + "\t" + "\t".join(logs))
    server.files["xena-toil/tcga_gene_expected_count.gz"] = gzip.compress(
        ("\n".join(lines) + "\n").encode()
    )
    clinical = (
        "sampleID\tage\t_primary_site\tgender\n"
        "S3\t50\tLung\tfemale\n"
        "S1\t61\tBreast\tfemale\n"
        "S2\t40\t\tmale\n"
        "S9\t70\tKidney\tmale\n"
    )
    server.files["xena-tcga/TCGA.PANCAN.sampleMap/PANCAN_clinicalMatrix.gz"] = gzip.compress(
        clinical.encode()
    )
    probes = (
        "id\tgene\tchrom\tchromStart\tchromEnd\tstrand\n"
        "# a comment line\n"
        "ENSG1.1\tTP53\tchr17\t1\t2\t-\n"
        "ENSG2.4\tBRCA1\tchr17\t3\t4\t-\n"
        "ENSG3.2\tTP53\tchr17\t5\t6\t+\n"
    )
    server.files["xena-toil/gencode.v23.annotation.gene.probeMap.gz"] = gzip.compress(
        probes.encode()
    )


def test_tcga_turns_log_values_back_into_counts_with_labels_and_mapping(server, tmp_path):
    _serve_tcga(server)
    raw = load_raw("TCGA-RSEM", None, tmp_path, ReadOptions())
    np.testing.assert_array_equal(raw.values.toarray(), list(TCGA_COUNTS.values()))
    assert list(raw.example_names) == ["S1", "S2", "S3"]
    assert list(raw.feature_names) == ["ENSG1.1", "ENSG2.4", "ENSG3.2"]
    assert list(raw.labels) == ["Breast", "No class", "Lung"]
    assert raw.feature_mapping == {"TP53": ["ENSG1.1", "ENSG3.2"], "BRCA1": ["ENSG2.4"]}
    data = DataSet("TCGA-RSEM", directory=tmp_path).load()
    assert data.terms["example"] == "sample" and data.terms["class"] == "tissue site"
    assert data.terms["feature"] == "gene ID" and data.terms["mapped feature"] == "gene"
    assert data.excluded_classes == ["No class"]


def test_tcga_kallisto_is_transcript_level(server, tmp_path):
    _serve_tcga(server)
    for source in ("tcga_gene_expected_count.gz", "gencode.v23.annotation.gene.probeMap.gz"):
        body = server.files.pop(f"xena-toil/{source}")
        renamed = source.replace("tcga_gene_expected_count", "tcga_Kallisto_est_counts")
        renamed = renamed.replace("gene.probeMap", "transcript.probemap")
        server.files[f"xena-toil/{renamed}"] = body
    data = DataSet("TCGA-Kallisto", directory=tmp_path).load()
    assert data.terms["feature"] == "transcript ID" and data.number_of_examples == 3
    assert data.feature_mapping["TP53"] == ["ENSG1.1", "ENSG3.2"]


def test_offline_names_the_url_and_files_placed_by_hand_are_used(monkeypatch, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    monkeypatch.setenv(MIRROR_VARIABLE, closed)
    monkeypatch.setattr(download_module.time, "sleep", lambda seconds: None)
    target = tmp_path / "tcga_rsem" / "original" / "tcga_rsem-values-full.gz"
    with pytest.raises(DataError) as caught:
        load_raw("TCGA-RSEM", None, tmp_path, ReadOptions())
    message = str(caught.value)
    assert f"{closed}/xena-toil/tcga_gene_expected_count.gz" in message
    assert str(target.absolute()) in message
    with LocalServer() as local:  # fetch the files elsewhere, then place them by hand
        _serve_tcga(local)
    for source in CATALOGUE["tcga_rsem"].sources:
        path = CATALOGUE["tcga_rsem"].files(tmp_path)[source.key]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(local.files[f"{source.base}/{source.path}"])
    raw = load_raw("tcga-rsem", None, tmp_path, ReadOptions())
    assert raw.shape == (3, 3) and raw.values.sum() == 1028


# ------------------------------------------------------------------ Macosko
def test_macosko_clusters_supersets_and_excluded_classes(server, tmp_path):
    matrix = "gene\tr1_AAA\tr1_CCC\tr1_GGG\nRho\t5\t0\t1\nOpn1mw\t0\t2\t0\n"
    server.files["geo/GSE63472_P14Retina_merged_digital_expression.txt.gz"] = gzip.compress(
        matrix.encode()
    )
    server.files["mccarroll/retina_clusteridentities.txt"] = b"r1_AAA\t24\nr1_GGG\t2\nr9_TTT\t25\n"
    data = DataSet("Macosko-MRC", directory=tmp_path).load()
    np.testing.assert_array_equal(data.values.toarray(), [[5, 0], [0, 2], [1, 0]])
    assert list(data.feature_names) == ["Rho", "Opn1mw"]
    assert list(data.labels) == ["24", "0", "2"]
    assert list(data.superset_labels) == ["Rods", "No class", "Retinal ganglion"]
    assert data.excluded_classes == ["0"]
    palette = data.class_palette
    assert len(palette) == 40 and palette["0"] == "#000000"
    assert all(len(colour) == 7 and colour.startswith("#") for colour in palette.values())


# ------------------------------------------------------------------ CLI
def test_data_list_shows_sizes_and_what_is_downloaded(server, tmp_path, capsys):
    assert main(["data", "list", "-D", str(tmp_path)]) == 0
    before = capsys.readouterr().out
    assert "10x-PBMC-PP" in before and "~92k cells x 32,738 genes" in before
    line = next(row for row in before.splitlines() if row.startswith("10x_pbmc_pl "))
    assert line.endswith("not downloaded")
    assert main(["data", "download", "10x-PBMC-PL", "-D", str(tmp_path)]) == 0
    capsys.readouterr()
    main(["data", "list", "-D", str(tmp_path)])
    after = capsys.readouterr().out
    rows = {row.split()[0]: row for row in after.splitlines() if row.strip()}
    assert rows["10x_pbmc_pl"].endswith("downloaded")
    assert rows["10x_pbmc_pp"].endswith("not downloaded")


def test_data_download_of_an_unknown_name_is_a_one_line_error(tmp_path, capsys):
    assert main(["data", "download", "nope", "-D", str(tmp_path)]) == 2
    assert "is not a built-in data set" in capsys.readouterr().err


def test_train_development_works_offline(tmp_path, monkeypatch, capsys):
    def no_network(*args, **kwargs):
        raise AssertionError("the development set must not touch the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    folders = ["-D", str(tmp_path / "d"), "-M", str(tmp_path / "m")]
    code = main(["train", "development", "-e", "1", "-B", "2500", "-H", "16", *folders])
    assert code == 0
    assert "Model saved in" in capsys.readouterr().out
    assert (tmp_path / "d" / "development" / "cache").is_dir()

"""Command lines of scVAE 2.1.4 that must keep working: the GMVAE with
``--parameterise-latent-posterior`` and ``--caches-directory`` (``-C``)."""

from __future__ import annotations

import numpy as np
import pytest

from scvae.cli import main

TINY = ["-e", "1", "-B", "2500", "-H", "8", "-l", "2", "--seed", "1"]


def _counts(tmp_path):
    """60 cells x 5 genes of Poisson counts, as TSV."""
    counts = np.random.default_rng(0).poisson(3.0, size=(60, 5))
    lines = ["cell\t" + "\t".join(f"g{j}" for j in range(5))]
    lines += [f"c{i}\t" + "\t".join(map(str, row)) for i, row in enumerate(counts)]
    path = tmp_path / "counts.tsv"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _folders(tmp_path):
    return ["-D", str(tmp_path / "d"), "-M", str(tmp_path / "m")]


@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_both_commands_drop_the_flag_for_the_gmvae_only(command, capsys):
    from scvae.cli import build_parser
    from scvae.cli.options import build_config
    from scvae.config import ModelConfig

    parser = build_parser()
    for model, kept in (("gmvae", False), ("VAE", True)):
        namespace = parser.parse_args(
            [command, "x.tsv", "-m", model, "--parameterise-latent-posterior"]
        )
        assert build_config(namespace, ModelConfig).parameterise_latent_posterior is kept
    assert capsys.readouterr().err.count("has no effect on the GMVAE; ignored") == 1


@pytest.mark.slow
def test_gmvae_ignores_parameterise_latent_posterior_with_a_note(tmp_path, capsys):
    data = _counts(tmp_path)
    arguments = ["train", data, "-m", "GMVAE", "-K", "2", "--parameterise-latent-posterior"]
    assert main([*arguments, *TINY, *_folders(tmp_path)]) == 0
    captured = capsys.readouterr()
    notes = [line for line in captured.err.splitlines() if "parameterise" in line]
    assert notes == [
        "scvae: note: --parameterise-latent-posterior has no effect on the GMVAE; ignored"
    ]
    runs = [path.parent for path in (tmp_path / "m").rglob("checkpoint.pt")]
    assert len(runs) == 1 and "parameterised" not in str(runs[0])
    # the same command line without the flag finds the same run (nothing to train)
    assert main(["train", data, "-m", "GMVAE", "-K", "2", *TINY, *_folders(tmp_path)]) == 0
    assert [p.parent for p in (tmp_path / "m").rglob("checkpoint.pt")] == runs
    # and evaluate with the flag evaluates that run
    evaluate = ["evaluate", data, "-m", "gmvae", "-K", "2", "--parameterise-latent-posterior"]
    evaluate += [*TINY[2:], *_folders(tmp_path), "-A", str(tmp_path / "a")]
    assert main([*evaluate, "--included-analyses", "metrics"]) == 0, capsys.readouterr().err
    assert len(list((tmp_path / "a").rglob("metrics.json"))) == 1


def test_vae_refuses_parameterise_latent_posterior_in_one_line(tmp_path, capsys):
    arguments = ["train", _counts(tmp_path), "--parameterise-latent-posterior", *TINY]
    assert main([*arguments, *_folders(tmp_path)]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "parameterise-latent-posterior" in error[0]
    assert "Gaussian-mixture" in error[0]


@pytest.mark.parametrize("others", [False, True], ids=["empty cache", "cache with other files"])
def test_caches_directory_leaves_no_empty_folders(tmp_path, capsys, others):
    caches = tmp_path / "caches"
    if others:
        (caches / "log" / "someone").mkdir(parents=True)
        (caches / "log" / "someone" / "keep.txt").write_text("not ours")
    arguments = ["train", _counts(tmp_path), *TINY, *_folders(tmp_path), "-C", str(caches)]
    assert main(arguments) == 0
    capsys.readouterr()
    assert len(list((tmp_path / "m").rglob("checkpoint.pt"))) == 1
    if others:
        assert sorted(p.relative_to(caches).as_posix() for p in caches.rglob("*")) == [
            "log", "log/someone", "log/someone/keep.txt"]  # fmt: skip
    else:
        assert caches.is_dir() and list(caches.iterdir()) == []

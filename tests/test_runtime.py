"""The allocator setting: applied once on glibc, and the user's own settings kept."""

from __future__ import annotations

import subprocess
import sys

import pytest

CHECK = (
    "import scvae.runtime as r; first = r.keep_freed_memory(); print(first, r.keep_freed_memory())"
)


def _run(env_extra: dict[str, str]) -> str:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.pop("SCVAE_KEEP_ALLOCATOR", None)
    env.update(env_extra)
    result = subprocess.run(
        [sys.executable, "-c", CHECK], env=env, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc setting")
def test_applied_once_on_linux_and_not_over_the_users_choice():
    import platform

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("not glibc")
    assert _run({}) == "True True"
    assert _run({"MALLOC_MMAP_THRESHOLD_": "65536"}) == "False False"
    assert _run({"SCVAE_KEEP_ALLOCATOR": "1"}) == "False False"


def test_training_precision_allows_tf32_on_cuda_only_and_restores_it() -> None:
    import torch

    from scvae.runtime import training_precision

    before = torch.get_float32_matmul_precision()
    with training_precision(torch.device("cpu")):
        assert torch.get_float32_matmul_precision() == before
    with training_precision(torch.device("cuda")):
        assert torch.get_float32_matmul_precision() == "high"
    assert torch.get_float32_matmul_precision() == before
    try:
        with training_precision(torch.device("cuda")):
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    assert torch.get_float32_matmul_precision() == before

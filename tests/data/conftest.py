"""Fixtures shared by the data tests."""

from __future__ import annotations

import pytest
from local_http import LocalServer

from scvae.data import download as download_module
from scvae.data.catalogue import MIRROR_VARIABLE


@pytest.fixture
def mirror(monkeypatch):
    """A local HTTP server on 127.0.0.1 set as the built-in sets' mirror (no proxies, no
    waiting between retries); tests put the files it serves in ``mirror.files``."""
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(download_module.time, "sleep", lambda seconds: None)
    with LocalServer() as local:
        monkeypatch.setenv(MIRROR_VARIABLE, local.root)
        yield local

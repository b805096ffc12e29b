"""The HTML report of an evaluation: metrics, configuration, figures and exports.

The report is a single static ``index.html`` with relative links only; it loads
nothing from the network and needs no JavaScript.
"""

from __future__ import annotations

from scvae.report.build import write_report

__all__ = ["write_report"]

"""Value checks of numeric options and ``--device``: argparse ``type`` functions.

A bad value raises :class:`argparse.ArgumentTypeError`, which the parser shows as one
line (``scvae: error: argument -B/--minibatch-size: must be at least 1; got 0``).
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from typing import Any

Check = Callable[[str], Any]


def whole(least: int) -> Check:
    """A whole number of at least ``least``."""

    def check(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number; got {text!r}") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"must be at least {least}; got {value}")
        return value

    check.__name__ = "whole number"
    return check


def whole_or_all(text: str) -> int:
    """A whole number of at least 0, or ``all`` (0: no limit)."""
    if text.strip().lower() == "all":
        return 0
    try:
        return whole(0)(text)
    except argparse.ArgumentTypeError as error:
        raise argparse.ArgumentTypeError(f"{error} (or 'all')") from None


def real(
    low: float = -math.inf,
    high: float = math.inf,
    *,
    open_low: bool = False,
    open_high: bool = False,
    infinite: bool = False,
) -> Check:
    """A number in the interval from ``low`` to ``high`` (open or closed at each end).

    Not-a-number is refused, and infinity too unless ``infinite``.
    """

    def check(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number; got {text!r}") from None
        inside = (value > low if open_low else value >= low) and (
            value < high if open_high else value <= high
        )
        if math.isnan(value) or (math.isinf(value) and not infinite) or not inside:
            raise argparse.ArgumentTypeError(
                f"must be {_interval(low, high, open_low, open_high)}; got {text}"
            )
        return value

    check.__name__ = "number"
    return check


def _interval(low: float, high: float, open_low: bool, open_high: bool) -> str:
    if high == math.inf:
        return f"greater than {low:g}" if open_low else f"at least {low:g}"
    if low == -math.inf:
        return f"less than {high:g}" if open_high else f"at most {high:g}"
    left, right = "(" if open_low else "[", ")" if open_high else "]"
    return f"in {left}{low:g}, {high:g}{right}"


_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def device(text: str) -> str:
    """``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``, and present on this machine."""
    name = text.strip().lower()
    if not _DEVICE.match(name):
        raise argparse.ArgumentTypeError(
            f"unknown device {text!r}; choose auto, cpu, cuda, cuda:N (a GPU's index) or mps"
        )
    if name in ("auto", "cpu"):
        return name
    problem = device_problem(name)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return name


def device_problem(name: str) -> str | None:
    """Why the device ``name`` (``cuda``, ``cuda:N`` or ``mps``) cannot be used, or ``None``."""
    import torch

    if name == "mps":
        backend = getattr(torch.backends, "mps", None)
        if backend is None or not backend.is_available():
            return "MPS (Apple GPU) is not available on this machine; use cpu"
        return None
    if not torch.cuda.is_available():
        return f"{name}: no CUDA device is available on this machine; use cpu"
    index = int(name.partition(":")[2] or 0)
    count = torch.cuda.device_count()
    if index >= count:
        return f"{name}: this machine has {count} CUDA device(s): cuda:0 to cuda:{count - 1}"
    return None


def data_format(text: str) -> str:
    """``infer`` or a format name the readers know (any accepted spelling), as given."""
    if text.strip().lower() == "infer":
        return "infer"
    from scvae.cli.choices import suggestion
    from scvae.data.readers import ALIASES, READERS, normalise_format
    from scvae.errors import DataError

    try:
        normalise_format(text)
    except DataError:
        known = ", ".join(["infer", *sorted(READERS)])
        hint = suggestion(text, [*READERS, *ALIASES])
        raise argparse.ArgumentTypeError(
            f"unknown data format {text!r}{hint} (known: {known})"
        ) from None
    return text


#: config field -> check of each of its values
CHECKS: dict[str, Check] = {
    # data
    "format": data_format,
    "splitting_fraction": real(0, 1, open_low=True, open_high=True),
    "backed_above": real(0, infinite=True),
    # model
    "latent_size": whole(1),
    "hidden_sizes": whole(1),
    "number_of_importance_samples": whole(1),
    "number_of_monte_carlo_samples": whole(1),
    "number_of_classes": whole(1),
    "number_of_reconstruction_classes": whole(0),
    "number_of_warm_up_epochs": whole(0),
    "kl_weight": real(0),
    "proportion_of_free_nats_for_y_kl_divergence": real(0, 1),
    "mixture_weight_smoothing": real(0),
    "component_revival_interval": whole(0),
    "dropout_keep_probabilities": real(0, 1),
    # training
    "number_of_epochs": whole(1),
    "minibatch_size": whole(1),
    "learning_rate": real(0, open_low=True),
    "seed": whole(0),
    "device": device,
    "threads": whole(1),
    "processes": whole(1),
    "epoch_evaluation_cells": whole_or_all,
    # evaluation and analysis
    "sample_size": whole(0),
    "highlight_feature_indices": whole(0),
}

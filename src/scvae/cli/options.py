"""Build argparse options from the config dataclasses (their fields hold the defaults).

Each field's ``metadata`` gives its flags and help; :data:`scvae.cli.checks.CHECKS`
adds value checks and :data:`scvae.cli.choices.CHOICES` the accepted names, read
from the tables that define them.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Iterable
from typing import Any

from scvae.cli.checks import CHECKS
from scvae.cli.choices import CHOICES, METHOD_WITH_PARAMETERS
from scvae.cli.parser import MethodAndParameters


def add_config_options(
    parser: argparse.ArgumentParser,
    config_class: type,
    *,
    only: Iterable[str] | None = None,
    title: str | None = None,
    description: str | None = None,
    suppress_defaults: bool = False,
) -> None:
    """Add one option per field of ``config_class`` (or the fields named in ``only``).

    With ``suppress_defaults`` an option that is not given leaves no attribute on the
    namespace (so the caller can tell which were given).
    """
    wanted = set(only) if only is not None else None
    group = parser.add_argument_group(
        title or config_class.__doc__.splitlines()[0], description=description
    )
    for field in dataclasses.fields(config_class):
        if wanted is not None and field.name not in wanted:
            continue
        kwargs = _argument_kwargs(field)
        if suppress_defaults:
            kwargs["default"] = argparse.SUPPRESS
        group.add_argument(*field.metadata["flags"], **kwargs)


_METAVARS = {int: "N", float: "X", str: "NAME"}


def _argument_kwargs(field: dataclasses.Field) -> dict[str, Any]:
    meta = field.metadata
    kwargs: dict[str, Any] = {"dest": field.name, "default": field.default, "help": meta["help"]}
    action = meta.get("action")
    if action == "flag":
        kwargs["action"] = "store_true"
        return kwargs
    if action == "toggle":
        kwargs["action"] = argparse.BooleanOptionalAction
        return kwargs
    if "nargs" in meta:
        kwargs["nargs"] = meta["nargs"]
    kwargs["type"] = str.upper if meta.get("upper") else meta.get("type", str)
    kwargs["metavar"] = meta.get("metavar") or _METAVARS.get(meta.get("type", str), "NAME")
    if field.name in CHECKS:
        kwargs["type"] = CHECKS[field.name]
    if "choices" in meta:
        kwargs["choices"] = meta["choices"]
        kwargs["metavar"] = "{" + ",".join(meta["choices"]) + "}"
    if field.name in METHOD_WITH_PARAMETERS:
        kwargs.update(action=MethodAndParameters, methods=CHOICES[field.name])
        kwargs["metavar"] = ("METHOD", "PARAMETER")
    elif field.name in CHOICES:
        choices = CHOICES[field.name]
        kwargs.update(choices=choices, type=choices.canonical)
    return kwargs


def build_config(namespace: argparse.Namespace, config_class: type) -> Any:
    """Create ``config_class`` from parsed options (fields not on the parser keep defaults).

    ``--parameterise-latent-posterior`` is dropped for the GMVAE with a note (scVAE 2.1.4
    ignored it there, so its GMVAE command lines carry it); the VAE's model check refuses it.
    """
    values = {}
    for field in dataclasses.fields(config_class):
        if hasattr(namespace, field.name):
            value = getattr(namespace, field.name)
            values[field.name] = tuple(value) if isinstance(value, list) else value
    if values.get("parameterise_latent_posterior") and values.get("model_type") == "GMVAE":
        print(
            "scvae: note: --parameterise-latent-posterior has no effect on the GMVAE; ignored",
            file=sys.stderr,
        )
        values["parameterise_latent_posterior"] = False
    return config_class(**values)

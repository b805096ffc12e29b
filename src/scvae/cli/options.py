"""Build argparse options from the config dataclasses (their fields hold the defaults)."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Iterable
from typing import Any

from scvae.errors import NotSupportedYet

#: options whose features have not landed yet: using them exits with a clear message
UNSUPPORTED: frozenset[str] = frozenset()


def add_config_options(
    parser: argparse.ArgumentParser,
    config_class: type,
    *,
    only: Iterable[str] | None = None,
    title: str | None = None,
) -> None:
    """Add one option per field of ``config_class`` (or the fields named in ``only``)."""
    wanted = set(only) if only is not None else None
    group = parser.add_argument_group(title or config_class.__doc__.splitlines()[0])
    for field in dataclasses.fields(config_class):
        if wanted is not None and field.name not in wanted:
            continue
        group.add_argument(*field.metadata["flags"], **_argument_kwargs(field))


_METAVARS = {int: "N", float: "X", str: "NAME"}


def _argument_kwargs(field: dataclasses.Field) -> dict[str, Any]:
    meta = field.metadata
    kwargs: dict[str, Any] = {"dest": field.name, "default": field.default, "help": meta["help"]}
    action = meta.get("action")
    if action == "flag":
        kwargs["action"] = "store_true"
    elif action == "toggle":
        kwargs["action"] = argparse.BooleanOptionalAction
    else:
        if "nargs" in meta:
            kwargs["nargs"] = meta["nargs"]
        kwargs["type"] = str.upper if meta.get("upper") else meta.get("type", str)
        kwargs["metavar"] = meta.get("metavar") or _METAVARS.get(meta.get("type", str), "NAME")
        if "choices" in meta:
            kwargs["choices"] = meta["choices"]
            kwargs["metavar"] = "{" + ",".join(meta["choices"]) + "}"
    return kwargs


def build_config(namespace: argparse.Namespace, config_class: type) -> Any:
    """Create ``config_class`` from parsed options (fields not on the parser keep defaults)."""
    values = {}
    for field in dataclasses.fields(config_class):
        if hasattr(namespace, field.name):
            value = getattr(namespace, field.name)
            values[field.name] = tuple(value) if isinstance(value, list) else value
    return config_class(**values)


def refuse_unsupported(*configs: Any, unsupported: frozenset[str] = UNSUPPORTED) -> None:
    """Raise :class:`NotSupportedYet` for any non-default value of an unsupported option."""
    for config in configs:
        for field in dataclasses.fields(config):
            if field.name in unsupported and getattr(config, field.name) != field.default:
                raise NotSupportedYet(field.metadata["flags"][0])

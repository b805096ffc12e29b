"""Run IDs and the folders of a model (reference §1.9, §3.10)."""

from __future__ import annotations

import datetime
import random
import re
import shutil
import string
from pathlib import Path

from scvae.errors import ConfigError

RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9_]+$")


def check_run_id(run_id: str) -> str:
    """Return ``run_id`` if it has only letters, digits and underscores."""
    if not RUN_ID_PATTERN.match(run_id):
        raise ConfigError(f"run ID '{run_id}' may only contain letters, digits and '_'")
    return run_id


def new_run_id(model_directory: str | Path, rng: random.Random | None = None) -> str:
    """``YYYYMMDDTHHMMSSZ_XY``: the UTC time and two letters, unused under the folder."""
    rng = rng or random.Random()
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    while True:
        run_id = stamp + "_" + "".join(rng.choices(string.ascii_uppercase, k=2))
        if not (Path(model_directory) / f"run_{run_id}").exists():
            return run_id


def run_directory(model_directory: str | Path, run_id: str | None) -> Path:
    """The folder of a run (the model folder itself when there is no run ID)."""
    model_directory = Path(model_directory)
    return model_directory / f"run_{check_run_id(run_id)}" if run_id else model_directory


def reset_directory(directory: str | Path) -> None:
    """Delete a model folder's contents except ``run_*`` sub-folders."""
    directory = Path(directory)
    if not directory.exists():
        return
    for entry in directory.iterdir():
        if entry.is_dir() and entry.name.startswith("run_"):
            continue
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def path_below(run: str | Path, models_directory: str | Path) -> Path:
    """``run`` relative to the models folder (just its name if it lies elsewhere)."""
    try:
        return Path(run).resolve().relative_to(Path(models_directory).resolve())
    except ValueError:
        return Path(Path(run).name)


def cache_run_directory(
    caches_directory: str | Path, models_directory: str | Path, run: Path
) -> Path:
    """Where ``run`` trains with ``--caches-directory``: ``<C>/log/<path below the models folder>``.

    A run that exists only in the models folder (trained before) is copied into the cache
    first, so training continues from it.
    """
    working = Path(caches_directory) / "log" / path_below(run, models_directory)
    if not working.exists() and Path(run).exists():
        shutil.copytree(run, working)
    return working


def move_run(working: Path, run: Path) -> Path:
    """Move a run trained in the cache into the models folder, replacing the older copy.

    The new copy is put beside the target first and renamed over it, so a failure
    leaves either the old or the new run in place, never half of one.
    """
    run = Path(run)
    run.parent.mkdir(parents=True, exist_ok=True)
    incoming = run.with_name(run.name + ".incoming")
    shutil.rmtree(incoming, ignore_errors=True)
    shutil.copytree(working, incoming, ignore=shutil.ignore_patterns("run_*"))
    outgoing = run.with_name(run.name + ".outgoing")
    if run.exists():
        # keep runs nested in a model folder where they are
        for nested in run.glob("run_*"):
            nested.rename(incoming / nested.name)
        run.rename(outgoing)
    incoming.rename(run)
    shutil.rmtree(outgoing, ignore_errors=True)
    shutil.rmtree(working, ignore_errors=True)
    return run

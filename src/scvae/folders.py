"""Every folder and file name of a run, in one place.

A model is trained into ``<models>/<data path>/<model name>[/run_<ID>]`` (the run
folder), which holds:

* ``config.json`` (:data:`CONFIG_NAME`): the data, model and training options;
* ``model.json`` (:data:`MODEL_FACTS`): what the model's shape depends on besides
  its options (feature count, components, batches, seed, data set);
* ``identity.json`` (:data:`IDENTITY_NAME`): what determines the result (the data's
  absolute path, size, modification time and shape, every data and model option, the
  learning rate, minibatch size and seed), by which a command finds its run;
* ``checkpoint.pt`` (:data:`CHECKPOINT_NAME`): the last completed epoch, and the same
  file in ``best/`` and ``early_stopping/`` for those model versions;
* ``learning_curves.csv`` (:data:`CURVES_NAME`), ``epoch_records.npz``
  (:data:`RECORDS_NAME`) and ``metadata_log-<start>-<end>.log``.

Results go to ``<analyses>/<data path>/<model name>[/run_<ID>]/<version folder>``,
and intermediate plots to ``<analyses>/<path below the models folder>/intermediate``.
"""

from __future__ import annotations

import datetime
import hashlib
import random
import re
import shutil
import string
from pathlib import Path

from scvae.config import DataConfig, ModelConfig, TrainingConfig
from scvae.data.processing import normalise_label
from scvae.data.splitting import split_directory_name
from scvae.errors import ConfigError
from scvae.models.naming import model_name

CONFIG_NAME = "config.json"
MODEL_FACTS = "model.json"
CHECKPOINT_NAME = "checkpoint.pt"
CURVES_NAME = "learning_curves.csv"
RECORDS_NAME = "epoch_records.npz"
BEST_DIRECTORY = "best"
EARLY_STOPPING_DIRECTORY = "early_stopping"
INTERMEDIATE_DIRECTORY = "intermediate"
#: the lock file of a run being trained, and the folder an epoch's files are staged in
LOCK_NAME = ".lock"
STAGING_DIRECTORY = ".epoch-pending"
#: the longest file or folder name most file systems accept, in bytes
MAXIMUM_NAME_BYTES = 255

#: model version -> sub-folder of the run folder holding its checkpoint
VERSION_FOLDERS = {
    "end_of_training": "",
    "best_model": BEST_DIRECTORY,
    "early_stopping": EARLY_STOPPING_DIRECTORY,
}
#: model version -> suffix of its result folder's name
VERSION_SUFFIXES = {
    "end_of_training": "",
    "best_model": "-best_model",
    "early_stopping": "-early_stopping",
}

RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9_]+$")
#: the record of what determines a run's result (see :mod:`scvae.runs`)
IDENTITY_NAME = "identity.json"


# ------------------------------------------------------------- data folders
def preprocessing_directory_name(
    config: DataConfig, include_preprocessing: bool = True, features_mapped: bool | None = None
) -> str:
    """``features_mapped-<selection>-<filter>-<methods>-noisy-<methods>`` or ``no_preprocessing``.

    Parameters are normalised (lower case; spaces, ``-`` and ``/`` become ``_``). A
    method given without its parameter is named without it: the folder follows the
    options as given, so train and evaluate with the same options find each other.
    ``features_mapped`` says whether a mapping was applied (``--map-features`` on data
    without a feature mapping maps nothing; ``None``: as configured).
    """
    parts: list[str] = []
    if config.map_features if features_mapped is None else features_mapped:
        parts.append("features_mapped")
    for option in (config.feature_selection, config.example_filter):
        if option:  # parameters such as class names become safe folder-name parts
            parts.append("_".join(normalise_label(item) for item in option))
    if include_preprocessing:
        parts += list(config.preprocessing_methods)
        if config.noisy_preprocessing_methods:
            parts += ["noisy", *config.noisy_preprocessing_methods]
    return "-".join(parts) if parts else "no_preprocessing"


def data_path(
    name: str,
    config: DataConfig,
    has_predefined_split: bool = False,
    *,
    include_preprocessing: bool = True,
    features_mapped: bool | None = None,
) -> str:
    """``<data set name>/<split dir>/<preprocessing dir>`` (see :func:`features_mapped`)."""
    if config.split_data_set:
        split = split_directory_name(
            config.splitting_method, config.splitting_fraction, has_predefined_split
        )
    else:
        split = "no_split"
    preprocessing = preprocessing_directory_name(config, include_preprocessing, features_mapped)
    return "/".join((name, split, preprocessing))


def features_mapped(config: DataConfig, data_set) -> bool:
    """Whether ``--map-features`` mapped anything (the data set had a feature mapping).

    A loaded data set's ``map_features`` is what was applied: false where there was no
    mapping to apply.
    """
    return bool(config.map_features and getattr(data_set, "map_features", True))


def corrected_batches(config: ModelConfig, data_set) -> int:
    """The batches a model corrects for: the data set's with ``--batch-correction``, else 0."""
    return (data_set.number_of_batches or 0) if config.batch_correction else 0


# ------------------------------------------------------- model and run folders
def model_directory(
    data_path: str,
    config: ModelConfig,
    training: TrainingConfig,
    k: int,
    number_of_batches: int | None = None,
) -> Path:
    """``<models>/<data path>/<model name>`` (over-long names shortened)."""
    name = model_name(config, k, number_of_batches)
    return Path(training.models_directory) / shorten_path(f"{data_path}/{name}")


def shorten_name(name: str) -> str:
    """``name``, or its start and a SHA-256 digest when it is over 255 bytes long."""
    encoded = name.encode("utf-8", "surrogateescape")
    if len(encoded) <= MAXIMUM_NAME_BYTES:
        return name
    digest = hashlib.sha256(encoded).hexdigest()[:16]
    start = encoded[: MAXIMUM_NAME_BYTES - len(digest) - 1].decode("utf-8", "ignore")
    return f"{start}-{digest}"


def shorten_path(path: str) -> str:
    """A ``/``-separated relative path with each over-long part shortened."""
    return "/".join(shorten_name(part) for part in path.split("/"))


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


def choose_run(directory: Path, training: TrainingConfig) -> Path:
    """The run folder: ``--run-id``, a new ID for ``--new-run``, or the model folder.

    With ``--reset-training`` the chosen folder is emptied first (nested runs are kept).
    """
    run_id = training.run_id
    if run_id is None and training.new_run:
        run_id = new_run_id(directory)
    if training.reset_training:
        reset_directory(run_directory(directory, run_id))
    return run_directory(directory, run_id)


def reset_directory(directory: str | Path) -> None:
    """Delete a model folder's contents except ``run_*`` sub-folders."""
    directory = Path(directory)
    if not directory.exists():
        return
    for entry in directory.iterdir():
        if (entry.is_dir() and entry.name.startswith("run_")) or entry.name == LOCK_NAME:
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


def move_run(working: Path, run: Path, caches_directory: str | Path | None = None) -> Path:
    """Move a run trained in the cache into the models folder, replacing the older copy.

    The new copy is put beside the target first and renamed over it, so a failure
    leaves either the old or the new run in place, never half of one. With
    ``caches_directory``, the folders left empty under ``<it>/log`` go too.
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
    if caches_directory is not None:
        remove_empty_folders(Path(working).parent, Path(caches_directory) / "log")
    return run


def remove_empty_folders(folder: Path, root: Path) -> None:
    """Remove ``folder`` and its parents while empty, up to and including ``root``."""
    root = root.resolve()
    folder = folder.resolve()
    while folder == root or root in folder.parents:
        try:
            folder.rmdir()
        except OSError:  # not empty (another run), or gone
            return
        if folder == root:
            return
        folder = folder.parent


def metadata_log_name(start: int, end: int) -> str:
    """``metadata_log-<start>-<end>.log``: one per training session (epochs start..end)."""
    return f"metadata_log-{start}-{end}.log"


def version_checkpoint(run: str | Path, version: str) -> Path:
    """The checkpoint file of a model version of ``run``."""
    return Path(run) / VERSION_FOLDERS[version] / CHECKPOINT_NAME


# -------------------------------------------------------------- result folders
def intermediate_folder(training: TrainingConfig, run: Path) -> Path | None:
    """``<A>/<data path>/<model name>[/run_ID]/intermediate`` with ``-A``, else ``None``."""
    if not training.analyses_directory:
        return None
    return (
        Path(training.analyses_directory)
        / path_below(run, training.models_directory)
        / INTERMEDIATE_DIRECTORY
    )


def analyses_folder(analyses_directory: str | Path, data_path: str, name: str, run: Path) -> Path:
    """``<analyses>/<data path>/<model name>[/run_<ID>]``: where a model's results go."""
    run_part = [run.name] if run.name.startswith("run_") else []
    return Path(analyses_directory, shorten_path(f"{data_path}/{name}"), *run_part)


def version_folder_name(epoch: int, version: str, monte_carlo: int, importance: int) -> str:
    """``e_<epochs>[-best_model|-early_stopping]-mc_<M>-iw_<R>``."""
    return f"e_{epoch}{VERSION_SUFFIXES[version]}-mc_{monte_carlo}-iw_{importance}"

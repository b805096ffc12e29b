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
import json
import random
import re
import shutil
import string
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from scvae.config import ABSENT_VALUES, DataConfig, ModelConfig, TrainingConfig
from scvae.data.processing import normalise_label
from scvae.data.splitting import split_directory_name
from scvae.distributions.registry import canonical_name
from scvae.errors import ConfigError
from scvae.io import atomic_write_json
from scvae.models.naming import latent_distribution, model_name

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


# ------------------------------------------------------------------ run identity
#: the record of what determines a run's result (data, options, seed)
IDENTITY_NAME = "identity.json"
#: how a run folder was chosen: the model folder itself, an ID given with --run-id or
#: --new-run, or a sub-folder started because the model folder holds a run trained
#: with other settings (only "default" and "automatic" runs are found without --run-id)
RUN_KINDS = ("default", "named", "automatic")
#: data options that change only where or how the values are held, not the result
UNIDENTIFYING_DATA_OPTIONS = ("data_directory", "backed", "backed_above")
#: training options that change the trained model (the seed is compared on its own)
IDENTIFYING_TRAINING_OPTIONS = ("learning_rate", "minibatch_size")
#: data and file options that name a path (stored absolute)
PATH_OPTIONS = {
    "data": ("data_directory", "labels"),
    "training": ("models_directory", "caches_directory", "analyses_directory"),
}
#: an automatic run's ID longer than this ends in a digest instead
MAXIMUM_KEY_LENGTH = 48


@dataclass(frozen=True)
class DataIdentity:
    """Which data a run was trained on: the input and a fingerprint of it.

    ``input`` is the absolute path of a file or folder (or a built-in set's name);
    ``size`` and ``modified`` are the total bytes and the latest modification time (ns)
    of its files; ``shape`` is (examples, features) of the processed data.
    """

    input: str
    size: int | None
    modified: int | None
    shape: tuple[int, int]

    def describe(self) -> str:
        return f"{self.input} ({self.shape[0]:,} x {self.shape[1]:,})"


@dataclass(frozen=True)
class RunIdentity:
    """What determines a run's result: data, every model and data option, training options, seed."""

    data: DataIdentity
    options: dict[str, Any]
    training: dict[str, Any]
    seed: int | None
    kind: str = "default"

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": 1,
            "data": {**asdict(self.data), "shape": list(self.data.shape)},
            "options": self.options,
            "training": self.training,
            "seed": self.seed,
            "kind": self.kind,
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunIdentity:
        data = dict(values["data"])
        shape = tuple(int(n) for n in data.pop("shape"))
        return cls(
            DataIdentity(shape=(shape[0], shape[1]), **data),
            dict(values["options"]),
            dict(values["training"]),
            values["seed"],
            values.get("kind", "default"),
        )

    def with_(self, **changes: Any) -> RunIdentity:
        return replace(self, **changes)


@dataclass(frozen=True)
class Difference:
    """One setting in which a run differs from the asked one."""

    option: str  # the command-line flag, or "data"
    there: Any
    here: Any

    def describe(self) -> str:
        return f"{self.option} {_shown(self.there)} there, {_shown(self.here)} here"


def _shown(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return " ".join(str(item) for item in value) or "(none)"
    return "(none)" if value is None else str(value)


def absolute_input(input_file_or_name: str | Path) -> str:
    """The absolute path of an existing file or folder; a built-in name normalised."""
    path = Path(input_file_or_name)
    return str(path.resolve()) if path.exists() else normalise_label(input_file_or_name)


def data_identity(input_file_or_name: str | Path, shape: tuple[int, int]) -> DataIdentity:
    """The identity of the data read from ``input_file_or_name`` with ``shape``."""
    path = Path(input_file_or_name)
    size = modified = None
    if path.exists():
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        stats = [file.stat() for file in files]
        size = sum(status.st_size for status in stats)
        modified = max((status.st_mtime_ns for status in stats), default=0)
    return DataIdentity(absolute_input(path), size, modified, (int(shape[0]), int(shape[1])))


def absolute_configs(
    data: DataConfig, training: TrainingConfig
) -> tuple[DataConfig, TrainingConfig]:
    """``data`` and ``training`` with their path options made absolute (as a run stores them)."""

    def absolute(config, names):
        changes = {
            name: str(Path(getattr(config, name)).absolute())
            for name in names
            if getattr(config, name)
        }
        return config.replace(**changes)

    return absolute(data, PATH_OPTIONS["data"]), absolute(training, PATH_OPTIONS["training"])


def run_identity(
    data: DataIdentity,
    data_config: DataConfig,
    model_config: ModelConfig,
    training: TrainingConfig,
    seed: int | None,
    kind: str = "default",
) -> RunIdentity:
    """The identity of a run of these options on ``data`` (``seed`` ``None``: any seed)."""
    data_config, training = absolute_configs(data_config, training)
    options = {
        f"data.{name}": value
        for name, value in data_config.to_dict().items()
        if name not in UNIDENTIFYING_DATA_OPTIONS
    }
    model = model_config.to_dict()
    # spellings of one model name the same run (nb = negative_binomial, the default latent)
    model["reconstruction_distribution"] = canonical_name(model_config.reconstruction_distribution)
    model["latent_distribution"] = latent_distribution(model_config)
    for name in ("number_of_monte_carlo_samples", "number_of_importance_samples"):
        model[name] = model[name][:1]  # a second value is for evaluation only
    options.update({f"model.{name}": value for name, value in model.items()})
    values = training.to_dict()
    return RunIdentity(
        data,
        options,
        {name: values[name] for name in IDENTIFYING_TRAINING_OPTIONS},
        seed,
        kind,
    )


def read_identity(run: str | Path) -> RunIdentity | None:
    """The identity saved in ``run`` (``None`` for a run of an earlier version without one)."""
    path = Path(run) / IDENTITY_NAME
    if not path.is_file():
        return None
    try:
        if path.stat().st_size > 1 << 20:
            raise ValueError("larger than 1 MiB")
        return RunIdentity.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        AttributeError,
        UnicodeDecodeError,
    ) as error:
        raise ConfigError(
            f'"{path}" is not a valid run record ({error}); delete it to treat the run as '
            "one of an earlier version"
        ) from error


def write_identity(run: str | Path, identity: RunIdentity) -> None:
    atomic_write_json(Path(run) / IDENTITY_NAME, identity.to_dict())


def differences(
    saved: RunIdentity, wanted: RunIdentity, *, training: bool = True
) -> list[Difference]:
    """How ``wanted`` differs from the ``saved`` run: data, options, seed (if asked).

    The data differ when the input, its total size or its shape differ; a newer
    modification time alone is not a difference (see :func:`data_modified`). With
    ``training`` false the learning rate and minibatch size are left out (evaluation
    uses them only to choose between runs).
    """
    found: list[Difference] = []
    there, here = saved.data, wanted.data
    if there.input != here.input or there.shape != here.shape:
        found.append(Difference("data", there.describe(), here.describe()))
    elif there.size is not None and here.size is not None and there.size != here.size:
        found.append(Difference("data", f"{there.size:,} bytes", f"{here.size:,} bytes"))
    for key in sorted(wanted.options):
        after = wanted.options[key]
        # an option added after the run was recorded had its old behaviour then
        before = saved.options[key] if key in saved.options else _value_before(key, after)
        if _plain_value(before) != _plain_value(after):
            found.append(Difference(_flag(key), before, after))
    if training:
        found += training_differences(saved, wanted)
    if wanted.seed is not None and saved.seed != wanted.seed:
        found.append(Difference("--seed", saved.seed, wanted.seed))
    return found


def training_differences(saved: RunIdentity, wanted: RunIdentity) -> list[Difference]:
    return [
        Difference(_flag(f"training.{name}"), saved.training.get(name), wanted.training.get(name))
        for name in IDENTIFYING_TRAINING_OPTIONS
        if saved.training.get(name) != wanted.training.get(name)
    ]


def data_modified(saved: RunIdentity, wanted: RunIdentity) -> bool:
    """Whether the same data (input, size, shape) carry another modification time."""
    there, here = saved.data, wanted.data
    same = (there.input, there.size, there.shape) == (here.input, here.size, here.shape)
    return same and bool(there.modified and here.modified and there.modified != here.modified)


def _value_before(key: str, value: Any) -> Any:
    """The value an option had in runs recorded before it existed (``value`` if unknown).

    Options added in this version name their earlier behaviour in ``ABSENT_VALUES``;
    other new options are taken to default to what the run did.
    """
    name = key.split(".", 1)[1]
    if name in ABSENT_VALUES:
        return ABSENT_VALUES[name]
    for item in fields({"data": DataConfig, "model": ModelConfig}[key.split(".", 1)[0]]):
        if item.name == name:
            return _plain_value(item.default)
    return value


def _plain_value(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _flag(key: str) -> str:
    """``model.latent_size`` -> ``--latent-size`` (the option's first flag)."""
    section, name = key.split(".", 1)
    classes = {"data": DataConfig, "model": ModelConfig, "training": TrainingConfig}
    for item in fields(classes.get(section, DataConfig)):
        if item.name == name:
            return item.metadata["flags"][0]
    return name


def describe_differences(found: list[Difference], limit: int = 3) -> str:
    """``--seed 1 there, 2 here; ...`` (the first ``limit``, then how many more)."""
    text = "; ".join(item.describe() for item in found[:limit])
    if len(found) > limit:
        text += f"; and {len(found) - limit} more"
    return text


def run_key(found: list[Difference], wanted: RunIdentity) -> str:
    """A readable run ID for a run that differs from the model folder's run by ``found``.

    ``seed_2``, ``learning_rate_0_01``, ``minibatch_size_64``; data and other option
    differences become ``data_<digest>`` and ``options_<digest>``.
    """
    readable = {
        "--seed": "seed",
        "--learning-rate": "learning_rate",
        "--minibatch-size": "minibatch_size",
    }
    parts = []
    if any(item.option == "data" for item in found):
        parts.append("data_" + _digest(asdict(wanted.data)))
    others = [item for item in found if item.option != "data" and item.option not in readable]
    if others:
        parts.append("options_" + _digest(wanted.options))
    for item in found:
        if item.option in readable:
            parts.append(f"{readable[item.option]}_{_id_part(item.here)}")
    key = "_".join(parts) or "run"
    if len(key) > MAXIMUM_KEY_LENGTH:
        key = key[: MAXIMUM_KEY_LENGTH - 9] + "_" + _digest(key)
    return key


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def _id_part(value: Any) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", str(value).replace("-", "m"))


def runs_in(model_directory: str | Path, kinds: tuple[str, ...] = ("automatic",)) -> list[Path]:
    """The ``run_*`` folders of a model folder whose record names them one of ``kinds``."""
    found = []
    for folder in sorted(Path(model_directory).glob("run_*")):
        if not (folder / CONFIG_NAME).is_file():
            continue
        identity = read_identity(folder)
        if identity is not None and identity.kind in kinds:
            found.append(folder)
    return found


class RunMismatch(ConfigError):
    """A chosen run was trained with other settings than the asked ones."""


def check_same_run(run: Path, wanted: RunIdentity, log=None) -> None:
    """Refuse to continue ``run`` when it was trained with other settings than ``wanted``.

    A run of an earlier version (no record) is taken as matching, with a note via ``log``.
    """
    if not (Path(run) / CONFIG_NAME).is_file():
        return
    saved = read_identity(run)
    if saved is None:
        if log is not None:
            log(LEGACY_NOTE.format(run=run))
        return
    found = differences(saved, wanted)
    if found:
        raise RunMismatch(
            f'the run in "{run}" was trained with other settings ({describe_differences(found)}); '
            "give another --run-id (or --new-run), --reset-training to train it again from "
            "the start, or another models folder with -M"
        )


LEGACY_NOTE = (
    'The run in "{run}" was trained by an earlier version of scvae (it has no record of its '
    "data and options); it is taken to match this command."
)


def select_training_run(
    directory: Path, training: TrainingConfig, wanted: RunIdentity, log
) -> tuple[Path, RunIdentity]:
    """The run folder a training command continues or starts, and its identity.

    * ``--run-id ID`` / ``--new-run``: that run; an existing one must match (else one line
      naming the differences and the options that resolve them).
    * Otherwise the model folder's own run when it is new or matches (an earlier version's
      run, without a record, counts as matching); else an automatic run beside it with the
      same settings; else a new automatic run ``run_<differences>`` (said in one line).
    """
    if training.run_id is not None or training.new_run:
        run = choose_run(directory, training.replace(reset_training=False))
        if not training.reset_training:
            check_same_run(run, wanted, log)
        return run, wanted.with_(kind="named")
    if not (directory / CONFIG_NAME).is_file():
        return directory, wanted
    saved = read_identity(directory)
    if saved is None:
        log(LEGACY_NOTE.format(run=directory))
        return directory, wanted
    found = differences(saved, wanted)
    if not found:
        _note_modified(directory, saved, wanted, log)
        return directory, wanted
    for run in runs_in(directory):
        if not differences(read_identity(run), wanted):  # type: ignore[arg-type]
            return run, wanted.with_(kind="automatic")
    key = run_key(found, wanted)
    run, number = directory / f"run_{key}", 1
    while run.exists():
        number += 1
        run = directory / f"run_{key}_{number}"
    log(
        f'The run in "{directory}" was trained with other settings '
        f'({describe_differences(found)}); starting a new run in "{run}".'
    )
    return run, wanted.with_(kind="automatic")


def _note_modified(run: Path, saved: RunIdentity, wanted: RunIdentity, log) -> None:
    if data_modified(saved, wanted):
        log(
            f'Note: {wanted.data.input} was modified since the run in "{run}" was trained '
            "(same size and shape); continuing that run."
        )

"""Run identity: what determines a run's result, and which run a command uses.

Every run folder holds ``identity.json`` (:data:`scvae.folders.IDENTITY_NAME`): the
data's identity (absolute path, total size, modification time, shape after
processing), every data and model option, the learning rate and minibatch size, and
the seed. Training continues a run only for the same command; other data or options
start a run beside it (:func:`select_training_run`). Evaluation looks up the run the
same way (:mod:`scvae.evaluation.restore`). See docs/runs.md.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from scvae.config import ABSENT_VALUES, DataConfig, ModelConfig, TrainingConfig
from scvae.data.processing import normalise_label
from scvae.distributions.registry import canonical_name
from scvae.errors import ConfigError
from scvae.folders import CONFIG_NAME, IDENTITY_NAME, choose_run
from scvae.io import atomic_write_json
from scvae.models.naming import latent_distribution

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

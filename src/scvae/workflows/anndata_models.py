"""The AnnData-first model classes: ``scvae.VAE``, ``scvae.GMVAE`` and ``scvae.load``.

A model is set up on an AnnData (``layer``, ``label_key``, ``batch_key`` as the CLI's
``--layer``, ``--label-key`` and ``--batch-key``), trained with :meth:`train`, and gives
numpy arrays for any AnnData with the same genes. Training writes the same run folder
as ``scvae train`` (:func:`scvae.workflows.train.prepare_run` and
:func:`~scvae.workflows.train.fit_run`), in a temporary folder unless ``directory`` is
given; :meth:`save` copies it, and :func:`load` reads it back, or any run folder that
``scvae train`` wrote.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from scvae.config import DataConfig, ModelConfig, TrainingConfig
from scvae.data.anndata import from_anndata
from scvae.data.data_set import DataSet
from scvae.data.loading import load as load_into_memory
from scvae.errors import ConfigError, DataError, NotCountsError
from scvae.evaluation.restore import load_version, read_model_facts, read_run_configs
from scvae.folders import move_run
from scvae.io import atomic_write_json
from scvae.models.build import ModelFacts, build_module_from
from scvae.progress import interactive
from scvae.runs import DataIdentity, run_identity
from scvae.training.lock import holds_run_locks
from scvae.workflows.data_sets import (
    latent_values,
    load_data_set,
    mixture_components,
    split_data_set,
)
from scvae.workflows.estimators import model_config
from scvae.workflows.train import build_facts, fit_run, prepare_run

#: what a model saved by :meth:`AnnDataModel.save` records of the AnnData it was set up on
SETUP_NAME = "anndata_setup.json"


@dataclass
class Setup:
    """How an AnnData becomes the model's input: the matrix, the obs columns, the names."""

    layer: str | None = None
    label_key: str | None = None
    batch_key: str | None = None
    feature_names: list[str] | None = None
    batch_names: list[str] | None = None
    preprocessing_methods: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class AnnDataModel:
    """Shared behaviour of :class:`VAE` and :class:`GMVAE`.

    Parameters
    ----------
    adata
        Cells x genes; the counts in ``X`` or in ``layer`` (``"raw"`` for ``raw.X``).
    layer, label_key, batch_key
        As ``--layer``, ``--label-key`` and ``--batch-key``. Labels set the GMVAE's
        number of components (unless ``number_of_classes`` is given) and are used for
        the accuracy printed while training.
    batch_correction
        Give the batch to the encoder and decoder. Default: when ``batch_key`` is given.
        Asking for it without batches is an error.
    directory
        The run folder to train in (default: a temporary folder; see :meth:`save`).
    **options
        Any :class:`~scvae.config.ModelConfig` option (``latent_size``, ``hidden_sizes``,
        ``reconstruction_distribution``, ``number_of_classes``, ...).
    """

    model_type = "VAE"

    def __init__(
        self,
        adata: Any,
        layer: str | None = None,
        label_key: str | None = None,
        batch_key: str | None = None,
        batch_correction: bool | None = None,
        *,
        directory: str | Path | None = None,
        **options: Any,
    ) -> None:
        if batch_correction is None:
            batch_correction = batch_key is not None
        self.config = model_config(
            self.model_type, {**options, "batch_correction": bool(batch_correction)}
        )
        try:
            data_set = from_anndata(
                adata,
                layer=layer,
                label_key=label_key,
                batch_key=batch_key,
                reconstruction_distribution=self.config.reconstruction_distribution,
            )
        except NotCountsError as error:
            layers = ", ".join(map(str, getattr(adata, "layers", {}).keys()))
            hint = (
                f"; the counts may be in a layer: give layer= (layers: {layers})" if layers else ""
            )
            where = f"layers['{layer}']" if layer not in (None, "X") else "X"
            raise NotCountsError(f"AnnData {where}", f"{error.problem}{hint}") from error
        if self.config.batch_correction and data_set.batch_indices is None:
            where = f"obs['{batch_key}']" if batch_key else "no batch_key"
            raise ConfigError(
                f"batch_correction=True needs batches, and the AnnData has {where}; give "
                "batch_key='<obs column>' or batch_correction=False"
            )
        self.setup = Setup(
            layer=layer,
            label_key=label_key,
            batch_key=batch_key,
            feature_names=[str(name) for name in data_set.feature_names],
            batch_names=_names(data_set.batch_names),
        )
        if self.model_type == "GMVAE" and mixture_components(self.config, data_set) < 2:
            raise ConfigError(
                "the GMVAE needs a number of clusters: give number_of_classes=K, or "
                "label_key='<obs column>' to take the number of labels"
            )
        self.data_set = data_set
        self.facts: ModelFacts | None = None
        self.module: torch.nn.Module | None = None
        self.run: Path | None = None
        self.epochs = 0
        self._temporary: tempfile.TemporaryDirectory | None = None
        self._directory = None if directory is None else Path(directory)
        self._data_config = DataConfig(layer=layer, label_key=label_key, batch_key=batch_key)

    # ---------------------------------------------------------------- train
    @holds_run_locks
    def train(
        self,
        epochs: int | None = None,
        seed: int | None = 0,
        *,
        validation: bool = False,
        progress: bool | None = None,
        log=print,
        **training_options: Any,
    ) -> AnnDataModel:
        """Train (or continue up to ``epochs``, default 60) on the AnnData's cells.

        ``seed`` fixes the initial weights and the minibatch order (``None``: random).
        With ``validation`` the data are split as by ``--split-data-set`` and the model
        is validated on the validation cells (for the best and early-stopping versions). ``training_options``: any
        :class:`~scvae.config.TrainingConfig` option (``learning_rate``, ...).
        ``progress``: draw the progress bar (``None``: when stderr is a terminal or the
        model trains in a Jupyter notebook, so a script's piped log holds no bar frames).
        """
        if progress is None:
            progress = interactive()
        values = {"number_of_epochs": epochs, "seed": seed, **training_options}
        training = TrainingConfig(**{k: v for k, v in values.items() if v is not None})
        data_config = self._data_config.replace(split_data_set=bool(validation))
        sets = split_data_set(self.data_set, data_config)
        training_set, validation_set = (sets[1], sets[2]) if validation else (sets[0], None)
        facts = self.facts or build_facts(self.config, training_set, training)
        identity = run_identity(
            self._data_identity(), data_config, self.config, training, training.seed
        )
        run, final, facts = prepare_run(
            self._run_folder(), facts, data_config, self.config, training, identity, log
        )
        atomic_write_json(run / SETUP_NAME, self.setup.to_dict())
        torch.manual_seed(facts.seed)  # the initial weights follow the run's seed
        module = build_module_from(self.config, facts)
        trained = fit_run(
            module,
            training_set,
            validation_set,
            run,
            self.config,
            training,
            facts,
            progress=progress,
            log=log,
        )
        run = move_run(run, final) if run != final else trained
        self.run, self.facts = Path(run), facts
        self._restore(module, "end_of_training")
        return self

    def _data_identity(self) -> DataIdentity:
        """The AnnData's identity for the run record: a digest of its counts and names."""
        values = sp.csr_matrix(self.data_set.values)
        digest = hashlib.sha256()
        for array in (values.data, values.indices, values.indptr):
            digest.update(np.ascontiguousarray(array).tobytes())
        for names in (self.data_set.example_names, self.data_set.feature_names):
            digest.update("\n".join(map(str, names)).encode("utf-8", "surrogateescape"))
        shape = (self.data_set.number_of_examples, self.data_set.number_of_features)
        return DataIdentity(f"AnnData (sha256 {digest.hexdigest()[:16]})", values.nnz, None, shape)

    def _run_folder(self) -> Path:
        if self.run is not None:
            return self.run
        if self._directory is not None:
            return self._directory
        # nothing is written into the current folder unless asked
        self._temporary = tempfile.TemporaryDirectory(prefix="scvae-")
        return Path(self._temporary.name) / "run"

    def _restore(self, module: torch.nn.Module, version: str) -> None:
        trained = load_version(self.run, version, module, torch.device("cpu"))
        if trained is None:
            raise ConfigError(f'no {version.replace("_", " ")} checkpoint in "{self.run}"')
        self.module, self.epochs, self.version = trained.module, trained.epoch, version

    # --------------------------------------------------------------- results
    def get_latent_representation(self, adata: Any = None) -> np.ndarray:
        """Latent means of every cell of ``adata`` (default: the training data), ``(N, L)``."""
        z, _ = self._latent(adata)
        return z

    def _latent(self, adata: Any) -> tuple[np.ndarray, np.ndarray | None]:
        if self.module is None:
            raise ConfigError("the model is not trained yet; call train() first")
        data_set = self._data_set(adata)
        return latent_values(self.module, data_set, self.config, self.facts)

    def _data_set(self, adata: Any) -> DataSet:
        if adata is None:
            return self.data_set
        setup = self.setup
        data_set = from_anndata(
            adata,
            layer=setup.layer,
            batch_key=setup.batch_key,
            label_key=setup.label_key if _has_column(adata, setup.label_key) else None,
            reconstruction_distribution=self.config.reconstruction_distribution,
            preprocessing_methods=setup.preprocessing_methods,
        )
        data_set = _with_features(data_set, setup.feature_names, self.facts.feature_size)
        if self.facts.number_of_batches:
            _rename_batches(data_set, setup.batch_names, setup.batch_key)
        return load_into_memory(data_set)

    # ------------------------------------------------------------------ save
    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Copy the run folder to ``path`` (a new folder; ``overwrite`` replaces one)."""
        if self.run is None:
            raise ConfigError("the model is not trained yet; call train() first")
        path = Path(path)
        if path.exists() and not overwrite:
            raise ConfigError(f'"{path}" exists; give overwrite=True or another path')
        if path.resolve() == Path(self.run).resolve():
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        incoming = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.incoming")
        try:
            shutil.copytree(self.run, incoming, ignore=shutil.ignore_patterns(".lock", ".*"))
            atomic_write_json(incoming / SETUP_NAME, self.setup.to_dict())
            if path.exists():
                outgoing = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.outgoing")
                os.replace(path, outgoing)
                os.replace(incoming, path)
                shutil.rmtree(outgoing, ignore_errors=True)
            else:
                os.replace(incoming, path)
        finally:
            shutil.rmtree(incoming, ignore_errors=True)
        return path

    def __repr__(self) -> str:
        state = f"trained {self.epochs} epochs" if self.module is not None else "not trained"
        return f"scvae.{self.model_type}({self.data_set.number_of_examples} cells, {state})"


class VAE(AnnDataModel):
    """A variational auto-encoder set up on an AnnData (see :class:`AnnDataModel`)."""

    model_type = "VAE"


class GMVAE(AnnDataModel):
    """A Gaussian-mixture VAE set up on an AnnData (see :class:`AnnDataModel`).

    Its components are the clusters: :meth:`predict_clusters` gives each cell's most
    probable component (argmax q(y|x)), as ``obs["scvae_cluster"]`` of ``scvae evaluate``.
    """

    model_type = "GMVAE"

    def predict_clusters(self, adata: Any = None, soft: bool = False) -> np.ndarray:
        """Each cell's cluster ``(N,)`` (int), or with ``soft`` q(y|x) ``(N, K)``."""
        _, y = self._latent(adata)
        return y if soft else y.argmax(axis=1).astype(np.int64)


# ------------------------------------------------------------------ loading
def load(path: str | Path, adata: Any = None, version: str = "end_of_training") -> AnnDataModel:
    """A trained model from a folder saved by :meth:`AnnDataModel.save` or ``scvae train``.

    ``adata`` becomes the model's data (default: for a run of ``scvae train``, its own
    data set, read with the run's options); ``version``: ``end_of_training``,
    ``best_model`` or ``early_stopping``.
    """
    run = Path(path)
    configs = read_run_configs(run)
    facts = read_model_facts(run)
    cls = GMVAE if configs.model.model_type == "GMVAE" else VAE
    model = cls.__new__(cls)
    model.config = configs.model
    model.facts, model.run = facts, run
    model._temporary, model._directory = None, run
    model._data_config = configs.data
    model.setup = _saved_setup(run, configs.data)
    model._restore(build_module_from(configs.model, facts), version)
    own = None
    if adata is None or model.setup.feature_names is None:
        try:  # a run of scvae train: its own data give the genes' and batches' names
            own = _run_data_set(run, configs.data, configs.model, facts)
        except (ConfigError, DataError, OSError):
            if adata is None:
                raise
    if own is not None and model.setup.feature_names is None:
        model.setup.feature_names = [str(name) for name in own.feature_names]
        model.setup.batch_names = _names(own.batch_names)
    model.data_set = own if adata is None else model._data_set(adata)
    return model


def _saved_setup(run: Path, data: DataConfig) -> Setup:
    path = run / SETUP_NAME
    if path.is_file() and path.stat().st_size < 64 << 20:
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
            return Setup(**values)
        except (ValueError, TypeError) as error:
            raise DataError(path, f"is not a valid AnnData setup ({error})") from error
    return Setup(
        layer=data.layer,
        label_key=data.label_key,
        batch_key=data.batch_key,
        preprocessing_methods=list(data.preprocessing_methods),
    )


def _run_data_set(run: Path, data: DataConfig, model: ModelConfig, facts: ModelFacts) -> DataSet:
    """The data set a ``scvae train`` run was trained on, read with its options."""
    if not facts.data_set or facts.data_set == "anndata":
        raise ConfigError(
            f'the model in "{run}" was trained on an in-memory AnnData; give it: '
            "scvae.load(path, adata)"
        )
    return load_data_set(
        data, facts.data_set, reconstruction_distribution=model.reconstruction_distribution
    )


def _names(values: Any) -> list[str] | None:
    return None if values is None else [str(value) for value in values]


def _has_column(adata: Any, key: str | None) -> bool:
    return key is not None and key in adata.obs.columns


def _with_features(data_set: DataSet, names: list[str] | None, size: int) -> DataSet:
    """``data_set`` with the model's genes in the model's order (matched by name)."""
    given = [str(name) for name in data_set.feature_names]
    if names is None or given == names:
        if data_set.number_of_features != size:
            raise DataError(
                None, f"the AnnData has {data_set.number_of_features} genes; the model has {size}"
            )
        return data_set
    index = pd.Index(given)
    columns = index.get_indexer(names) if index.is_unique else np.full(len(names), -1)
    if (columns < 0).any():
        missing = [name for name, column in zip(names, columns, strict=True) if column < 0]
        raise DataError(
            None,
            f"the AnnData lacks {len(missing)} of the model's {len(names)} genes "
            f"(e.g. '{missing[0]}'); give an AnnData with the genes the model was trained on",
        )
    return DataSet(
        data_set.input,
        values=data_set.values[:, columns],
        labels=data_set.labels,
        example_names=data_set.example_names,
        feature_names=np.asarray(names, dtype=object),
        batch_indices=data_set.batch_indices,
        batch_names=data_set.batch_names,
        reconstruction_distribution=data_set.reconstruction_distribution,
        preprocessing_methods=data_set.preprocessing_methods,
    )


def _rename_batches(data_set: DataSet, trained: list[str] | None, key: str | None) -> None:
    """Code the batches of ``data_set`` as the model's batches (matched by name)."""
    if data_set.batch_indices is None:
        raise DataError(
            None, f"the model corrects for batches; the AnnData needs obs['{key or 'batch'}']"
        )
    if trained is None:
        return
    names = np.asarray(data_set.batch_names, dtype=object)[data_set.batch_indices].astype(str)
    codes = pd.Index(trained).get_indexer(names)
    if (codes < 0).any():
        unknown = sorted(set(names[codes < 0]))
        raise DataError(
            None,
            f"batches the model was not trained on: {', '.join(unknown[:5])} (it knows "
            f"{', '.join(trained[:10])})",
        )
    data_set.batch_indices = codes.astype(np.int64)
    data_set.batch_names = np.asarray(trained, dtype=object)

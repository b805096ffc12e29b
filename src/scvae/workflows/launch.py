"""``scvae train --processes N``: start N local training processes and wait for them.

Each worker runs ``python -m scvae.workflows.launch JOB`` with the environment
variables torchrun sets (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``,
``MASTER_PORT``) and calls :func:`scvae.workflows.train.train`, which joins the process
group (:mod:`scvae.training.parallel`). If one worker fails, the others are stopped.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from scvae.errors import ScvaeError

#: the module each worker runs
WORKER_MODULE = "scvae.workflows.launch"


class DistributedError(ScvaeError):
    """A training process failed, or the processes could not be started."""


def launch_training(
    input_file_or_name: str, configs: dict[str, Any], processes: int, threads: int | None = None
) -> Path:
    """Train with ``processes`` local worker processes; return the run folder.

    ``configs`` maps ``data``, ``model`` and ``training`` to config objects.
    """
    folder = Path(tempfile.mkdtemp(prefix="scvae-processes-"))
    job = {
        "input": str(input_file_or_name),
        "configs": {name: config.to_dict() for name, config in configs.items()},
        "result": str(folder / "result.json"),
    }
    (folder / "job.json").write_text(json.dumps(job))
    threads = threads or max(1, (os.cpu_count() or 1) // processes)
    environment = {
        **os.environ,
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(_free_port()),
        "WORLD_SIZE": str(processes),
        "LOCAL_WORLD_SIZE": str(processes),
        "OMP_NUM_THREADS": str(threads),
    }
    command = [sys.executable, "-m", WORKER_MODULE, str(folder / "job.json")]
    workers = [
        subprocess.Popen(command, env={**environment, "RANK": str(r), "LOCAL_RANK": str(r)})
        for r in range(processes)
    ]
    try:
        _wait(workers)
        return Path(json.loads((folder / "result.json").read_text())["run"])
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        for name in ("job.json", "result.json"):
            (folder / name).unlink(missing_ok=True)
        folder.rmdir()


def _wait(workers: list[subprocess.Popen]) -> None:
    """Wait for every worker; stop the rest and raise when one fails."""
    while True:
        codes = [worker.poll() for worker in workers]
        failed = [(rank, code) for rank, code in enumerate(codes) if code not in (None, 0)]
        if failed:
            rank, code = failed[0]
            for worker in workers:
                if worker.poll() is None:
                    worker.send_signal(signal.SIGTERM)
            raise DistributedError(f"training process {rank} stopped with exit code {code}")
        if all(code == 0 for code in codes):
            return
        time.sleep(0.2)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _worker(job_path: str) -> int:
    """One ``--processes`` worker: train as the job says; rank 0 reports the run folder."""
    from scvae.config import CONFIG_CLASSES
    from scvae.io import atomic_write_json
    from scvae.progress import is_quiet
    from scvae.workflows.train import train

    job = json.loads(Path(job_path).read_text())
    configs = {name: CONFIG_CLASSES[name].from_dict(v) for name, v in job["configs"].items()}
    main = os.environ.get("RANK") == "0"
    try:
        run = train(
            job["input"],
            configs["data"],
            configs["model"],
            configs["training"],
            progress=main,  # --quiet and terminal-only arrive through scvae.progress
            log=print if main and not is_quiet() else (lambda *_: None),
        )
    except ScvaeError as error:
        print(f"scvae: error: {error}", file=sys.stderr)
        return 2
    if main:
        atomic_write_json(job["result"], {"run": str(run)})
    return 0


def _leave(code: int) -> None:
    """End a worker straight away, its results being on disk.

    Everything a worker writes is written atomically and closed before this point, and
    the process group has been left. Skipping the interpreter's shutdown avoids a rare
    abort at exit under load ("terminate called without an active exception", seen
    after all epochs were written), when a communication thread of the torn-down group
    was still being destroyed.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    _leave(_worker(sys.argv[1]))

"""MLflow, offline: a run's parameters (the resolved recipe and data contract, dotted keys),
losses, learning rate, throughput and evaluation scores, in a local MLflow store, by default
``<run>/mlruns`` (``mlflow ui --backend-store-uri runs/NAME/mlruns``); no server is needed.

Written with ``MlflowClient`` (``mlflow-skinny`` is enough for a local folder store; MLflow 3
keeps that store in maintenance mode, so ``MLFLOW_ALLOW_FILE_STORE=true`` is set for it unless
the environment says otherwise). The MLflow run id is kept in ``<run>/mlflow.json``: a resumed
run and later evaluations log to the same MLflow run. MLflow cannot delete values: after a
resume, the steps an interrupted attempt logged past its last checkpoint appear twice (the
later value is the resumed run's). Names MLflow refuses (``embedding+side``) get ``_``.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from ssl_ecg import Config, Logger, LoggerContext, PluginError, Spec, hookimpl, require_package

IDS = "mlflow.json"  # in the run directory: {tracking_uri setting: MLflow run id}
_BAD = re.compile(r"[^/\w.\- :]")  # characters MLflow refuses in a name
MAX_PARAM = 6000  # MLflow's longest parameter value
BATCH = 100  # MLflow's most parameters per log_batch


class MLflowConfig(Config):
    tracking_uri: str | None = Field(
        None,
        description="the MLflow store: a folder (relative to the run directory) or a URI "
        "(file:, sqlite:, http:); default: <run>/mlruns",
    )
    experiment: str = Field("ssl-ecg", min_length=1, description="MLflow experiment name")
    run_name: str | None = Field(None, description="MLflow run name; default: the run folder's")

    @model_validator(mode="after")
    def _installed(self) -> MLflowConfig:
        require_package("mlflow", "mlflow-skinny", "logger 'mlflow'")
        return self


def tracking_uri(setting: str | None, run_dir: Path) -> str:
    """A URI as it is; a folder (default ``mlruns``) relative to the run directory, as a
    ``file:`` URI."""
    if setting is not None and re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]+:", setting):
        return setting
    return (Path(run_dir) / (setting or "mlruns")).resolve().as_uri()


class MLflow(Logger):
    config: MLflowConfig

    def __init__(self, config: MLflowConfig, context: LoggerContext) -> None:
        super().__init__(config, context)
        self.uri = tracking_uri(config.tracking_uri, context.run_dir)
        if self.uri.startswith("file:"):
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        try:
            from mlflow.tracking import MlflowClient
        except ImportError as exc:
            raise PluginError(f"cannot import mlflow ({exc}); pip install mlflow-skinny") from None
        self.client = MlflowClient(tracking_uri=self.uri)
        self.run_id = self._run_id()
        self.closed = False

    def _run_id(self) -> str:
        """The run's MLflow run: the one in mlflow.json when resuming or appending, else new."""
        from mlflow.exceptions import MlflowException

        ids_file = Path(self.context.run_dir) / IDS
        ids: dict[str, Any] = json.loads(ids_file.read_text()) if ids_file.is_file() else {}
        key = self.config.tracking_uri or "mlruns"
        if self.context.mode != "new" and key in ids:
            try:
                self.client.update_run(ids[key], status="RUNNING")
                return str(ids[key])
            except MlflowException:  # the store was moved or deleted: start another run
                pass
        exp = self.client.get_experiment_by_name(self.config.experiment)
        exp_id = exp.experiment_id if exp else self.client.create_experiment(self.config.experiment)
        run = self.client.create_run(exp_id, run_name=self.config.run_name or self.context.run_name)
        ids[key] = run.info.run_id
        ids_file.parent.mkdir(parents=True, exist_ok=True)
        ids_file.write_text(json.dumps(ids, indent=1))
        return str(run.info.run_id)

    def log_params(self, params: dict[str, str | int | float | bool]) -> None:
        from mlflow.entities import Param

        items = [Param(_name(k), str(v)[:MAX_PARAM]) for k, v in params.items()]
        for i in range(0, len(items), BATCH):
            self.client.log_batch(self.run_id, params=items[i : i + BATCH])

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(_name(k), float(v), now, step) for k, v in metrics.items()]
        self.client.log_batch(self.run_id, metrics=items)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.client.set_terminated(self.run_id)


def _name(key: str) -> str:
    return _BAD.sub("_", key)


@hookimpl
def register_loggers() -> list[Spec]:
    return [
        Spec(
            name="mlflow",
            factory=MLflow,
            config=MLflowConfig,
            summary="MLflow run in a local store (<run>/mlruns), offline: params, metrics",
        )
    ]

"""TensorBoard: a run's losses, learning rate, throughput and evaluation scores as scalars, its
parameters (the resolved recipe and data contract) as hyperparameters, in ``<run>/tensorboard``
by default; view with ``tensorboard --logdir runs``.

Written with ``torch.utils.tensorboard.SummaryWriter`` (needs the ``tensorboard`` package). A
resumed run appends to the same folder with ``purge_step`` at its first new step, so the
values an interrupted attempt logged after its last checkpoint are hidden by the new ones.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from ssl_ecg import Config, Logger, LoggerContext, PluginError, Spec, hookimpl, require_package


class TensorBoardConfig(Config):
    log_dir: str = Field(
        "tensorboard", min_length=1, description="event folder; relative to the run directory"
    )
    flush_secs: int = Field(30, ge=1, description="write pending events at least this often (s)")

    @model_validator(mode="after")
    def _installed(self) -> TensorBoardConfig:
        require_package("tensorboard", "tensorboard", "logger 'tensorboard'")
        return self


class TensorBoard(Logger):
    config: TensorBoardConfig

    def __init__(self, config: TensorBoardConfig, context: LoggerContext) -> None:
        super().__init__(config, context)
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:
            raise PluginError(
                f"cannot import torch.utils.tensorboard ({exc}); pip install tensorboard"
            ) from None
        self.folder = Path(context.run_dir) / config.log_dir  # an absolute log_dir stays
        # a new or resumed run supersedes what an earlier attempt logged past its checkpoint
        purge = None if context.mode == "append" else context.step + 1
        self.writer = SummaryWriter(str(self.folder), purge_step=purge,
                                    flush_secs=config.flush_secs)  # fmt: skip

    def log_params(self, params: dict[str, str | int | float | bool]) -> None:
        from torch.utils.tensorboard.summary import hparams

        # written into this run's own event file (SummaryWriter.add_hparams would start a
        # separate run); "train/loss" is the metric the HParams dashboard shows beside them
        for summary in hparams(dict(params), {"train/loss": 0.0}):
            self.writer.file_writer.add_summary(summary)  # type: ignore[union-attr]
        self.writer.flush()

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        for name, value in metrics.items():
            self.writer.add_scalar(name, value, global_step=step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


@hookimpl
def register_loggers() -> list[Spec]:
    return [
        Spec(
            name="tensorboard",
            factory=TensorBoard,
            config=TensorBoardConfig,
            summary="TensorBoard event files (scalars + hparams) in <run>/tensorboard",
        )
    ]

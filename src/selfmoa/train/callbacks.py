"""Trainer callbacks: metrics as JSONL lines (one per log event), with wall-clock time and pairs/s."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from transformers import TrainerCallback


class JsonlMetricsCallback(TrainerCallback):
    """Append every `log` event to `path` as one JSON line (flushed), so a killed run keeps its curve."""

    def __init__(self, path: Path, pairs_per_step: int):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.pairs_per_step = pairs_per_step
        self._t0: float | None = None
        self._step0 = 0

    def on_train_begin(self, args, state, control, **kw):
        self._t0 = time.monotonic()
        self._step0 = state.global_step

    def on_log(self, args, state, control, logs=None, **kw):
        if not logs:
            return
        row = {"step": state.global_step, "epoch": state.epoch, "time": time.time()}
        for k, v in logs.items():
            if isinstance(v, float) and not math.isfinite(v):
                v = None
            row[k] = v
        if self._t0 is not None and state.global_step > self._step0:
            row["pairs_per_s"] = round(
                (state.global_step - self._step0) * self.pairs_per_step / (time.monotonic() - self._t0), 4
            )
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")


class ProgressCallback(TrainerCallback):
    """A rich progress bar on stderr (steps, elapsed, remaining, last loss) in place of the Trainer's printed dicts;
    the full metrics are in ``metrics.jsonl``. Only the main process draws it."""

    def __init__(self, label: str = "training"):
        self.label = label
        self._progress = None
        self._task = None

    def on_train_begin(self, args, state, control, **kw):
        if not state.is_world_process_zero or not state.max_steps:
            return
        from selfmoa.progress import progress_bar

        self._progress = progress_bar(True, self.label, state.max_steps)
        self._task = self._progress.task_ids[0]
        self._progress.update(self._task, completed=state.global_step)
        self._progress.start()

    def on_step_end(self, args, state, control, **kw):
        if self._progress is not None:
            self._progress.update(self._task, completed=state.global_step)

    def on_log(self, args, state, control, logs=None, **kw):
        if self._progress is not None and logs and isinstance(logs.get("loss"), (int, float)):
            self._progress.update(self._task, description=f"{self.label} (loss {logs['loss']:.3f})")

    def on_train_end(self, args, state, control, **kw):
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


class TimeBudgetCallback(TrainerCallback):
    """Stop training after the optimizer step that passes ``minutes`` of wall time since training began (the
    trainer then saves and evaluates as after its last step). On a resume the clock starts again."""

    def __init__(self, minutes: float):
        self.budget = 60.0 * float(minutes)
        self._t0: float | None = None

    def on_train_begin(self, args, state, control, **kw):
        self._t0 = time.monotonic()

    def on_step_end(self, args, state, control, **kw):
        if self._t0 is not None and time.monotonic() - self._t0 >= self.budget and state.global_step < state.max_steps:
            control.should_training_stop = True
        return control

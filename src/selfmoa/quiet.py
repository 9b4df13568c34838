"""Library chatter off the console: the log lines, warnings and tqdm bars of transformers, datasets, TRL, PEFT,
accelerate and huggingface_hub go to the run's log file (``RUN/run.log``), so the console shows selfmoa's own
progress, one display per stage. ``selfmoa run --verbose`` keeps them on the console as before."""

from __future__ import annotations

import logging
import os
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from selfmoa.redact import redact_text

LIBRARIES = ("transformers", "datasets", "trl", "peft", "accelerate", "huggingface_hub", "torch", "sentence_transformers",
             "py.warnings")
# loggers whose level stays as the library set it: torch's children (torch._inductor, torch._dynamo, ...) keep their
# own stderr handlers and inherit the level of `torch`, so lowering it to INFO would print their INFO lines
KEEP_LEVEL = ("torch", "py.warnings")


class _Redacting(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact_text(super().format(record))


@contextmanager
def library_output_to(log_path: Path | None, *, verbose: bool = False) -> Iterator[None]:
    """While active, library log records and warnings are appended to `log_path` (redacted) and library tqdm bars
    are off; with `verbose` nothing changes."""
    if verbose:
        yield
        return
    for lib in ("transformers", "datasets"):  # each installs its own stderr handler on first import: import first
        try:
            __import__(lib)
        except Exception:  # noqa: BLE001  (an optional library that is not installed)
            pass
    handler: logging.Handler
    if log_path is not None:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_path, encoding="utf-8")
    else:
        handler = logging.NullHandler()
    handler.setFormatter(_Redacting("%(asctime)s %(name)s %(levelname)s: %(message)s"))
    saved = {}
    for name in LIBRARIES:
        lg = logging.getLogger(name)
        saved[name] = (list(lg.handlers), lg.level, lg.propagate)
        lg.handlers = [handler]
        lg.propagate = False
        if name not in KEEP_LEVEL:
            lg.setLevel(logging.INFO)
    old_tqdm = os.environ.get("TQDM_DISABLE")
    os.environ["TQDM_DISABLE"] = "1"
    try:
        from transformers.utils import logging as tf_logging

        tf_bar = tf_logging.is_progress_bar_enabled()
        tf_logging.disable_progress_bar()
    except Exception:  # noqa: BLE001
        tf_logging, tf_bar = None, False
    try:  # datasets' bars ("Saving the dataset", "Map") pass `disable` themselves: switch them off at the source
        import datasets

        ds_bar = datasets.is_progress_bar_enabled()
        datasets.disable_progress_bars()
    except Exception:  # noqa: BLE001
        datasets, ds_bar = None, False
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        logging.captureWarnings(True)
        try:
            yield
        finally:
            logging.captureWarnings(False)
            if old_tqdm is None:
                os.environ.pop("TQDM_DISABLE", None)
            else:
                os.environ["TQDM_DISABLE"] = old_tqdm
            if tf_logging is not None and tf_bar:
                tf_logging.enable_progress_bar()
            if datasets is not None and ds_bar:
                datasets.enable_progress_bars()
            for name, (handlers, level, propagate) in saved.items():
                lg = logging.getLogger(name)
                lg.handlers, lg.propagate = handlers, propagate
                lg.setLevel(level)
            handler.close()

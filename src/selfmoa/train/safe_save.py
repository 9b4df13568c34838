"""A trainer mixin that keeps the training arguments as JSON, never as a pickled ``training_args.bin``
(a checkpoint folder then holds nothing that unpickles on resume)."""

from __future__ import annotations

from pathlib import Path

from selfmoa.store.atomic import atomic_write_text


class JsonArgsMixin:
    """Put before a ``transformers.Trainer`` subclass: ``class T(JsonArgsMixin, GRPOTrainer)``."""

    def _save(self, output_dir: str | None = None, state_dict=None):
        from transformers.trainer import TRAINING_ARGS_NAME

        super()._save(output_dir, state_dict)
        out = Path(output_dir or self.args.output_dir)
        (out / TRAINING_ARGS_NAME).unlink(missing_ok=True)
        if self.args.should_save:
            atomic_write_text(out / "training_args.json", self.args.to_json_string())

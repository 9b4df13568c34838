"""Library chatter off the console (selfmoa.quiet): library log lines go to the run's log file, and torch's own
child loggers (which keep their stderr handlers) print nothing new."""

from __future__ import annotations

import logging
import subprocess
import sys


def test_library_lines_go_to_the_log_file_and_torch_children_stay_silent(tmp_path):
    log = tmp_path / "run.log"
    code = f"""
import logging
import torch._inductor.config  # noqa: F401  (installs torch's own stderr handlers)
from selfmoa.quiet import library_output_to
with library_output_to({str(log)!r}):
    logging.getLogger("transformers.modeling_utils").info("loading weights from x")
    logging.getLogger("datasets.arrow_dataset").warning("dropping fully truncated examples")
    logging.getLogger("torch._inductor.config").info("compile_threads set to 2")
    logging.getLogger("torch._inductor.config").warning("an inductor warning")
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "compile_threads" not in res.stderr and "loading weights" not in res.stderr
    assert "dropping fully truncated" not in res.stderr
    text = log.read_text()
    assert "loading weights from x" in text and "dropping fully truncated examples" in text
    # the level of torch is left as torch set it: its INFO lines are not raised anywhere
    assert "compile_threads" not in text

"""Stage functions shared by the loop, the evaluation, the red team and the audits: generate answers and judge them,
from typed records to typed records, each written to the run folder as a resumable stage (docs/architecture.md)."""

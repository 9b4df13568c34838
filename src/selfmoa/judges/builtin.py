"""Imports every built-in judge module so their ``@register_judge`` decorators run."""

from selfmoa.judges import guards, harm, refusal, reward, rubric  # noqa: F401
from selfmoa.judges import compliance, relevance  # noqa: F401,E402  (loop defaults: eval safety, helpfulness proxy)
from selfmoa.judges import target_fit  # noqa: F401,E402  (heads fitted on the target model's own labelled answers)
from selfmoa.judges import direction  # noqa: F401,E402  (label-free: the target model's own refusal direction)

from selfmoa.judges.base import JUDGES  # noqa: E402

# the configurable safety reward model lives above the judges (it trains); named lazily, imported on first use
JUDGES.add("csrm", "selfmoa.csrm.judge:CsrmJudge")

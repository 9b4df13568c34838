"""Scale-out helpers: Ray actor pools for generation and judging (optional extra ``selfmoa[ray]``) and
process-group awareness for training under ``accelerate launch``.

Nothing here imports ray at module import time; :func:`require_ray` raises a one-line
:class:`~selfmoa.errors.MissingExtraError` naming the extra when it is missing.
"""

from selfmoa.distributed.ray_pool import check_ray, ensure_ray, require_ray

__all__ = ["check_ray", "ensure_ray", "require_ray"]

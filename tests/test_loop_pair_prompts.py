"""The loop's pair-prompt cap: harmful and benign sides in the configured share, every source keeps a place."""

from __future__ import annotations

from collections import Counter

import pytest

from selfmoa.loop.runner import _capped_mix
from selfmoa.records import Prompt


def _prompts(tag: str, n: int, kind: str) -> list[Prompt]:
    return [Prompt(id=f"p-{tag}{i}", text=f"{tag} {i}", kind=kind) for i in range(n)]


def _groups(configured: list[Prompt] | None = None, benign: int = 30) -> dict[str, list[Prompt]]:
    return {
        "attacks": _prompts("att", 40, "harmful"),
        "regression": _prompts("reg", 40, "harmful"),
        "benign": _prompts("ben", benign, "benign"),
        "configured": configured if configured is not None else (
            _prompts("ch", 20, "harmful") + _prompts("cb", 20, "benign") + _prompts("cx", 20, "helpful")),
    }


@pytest.mark.parametrize("share", [0.25, 0.5, 0.75])
def test_benign_share_is_kept(share):
    out = _capped_mix(_groups(), 64, share)
    kinds = Counter(p.kind for p in out)
    assert len(out) == 64 and len({p.id for p in out}) == 64
    assert kinds["benign"] + kinds["helpful"] == round(64 * share)


def test_every_source_keeps_a_place_on_each_side():
    out = _capped_mix(_groups(), 48, 0.5)
    tags = Counter(p.id[2:5].rstrip("0123456789") for p in out)
    # harmful side: attacks, regression, harmful run.prompts; benign side: look-alikes, benign and helpful run.prompts
    assert tags["att"] == tags["reg"] == tags["ch"] == 8
    assert tags["ben"] == tags["cb"] == tags["cx"] == 8


def test_a_short_side_leaves_its_places_to_the_other():
    out = _capped_mix(_groups(configured=[], benign=5), 40, 0.5)
    assert len(out) == 40
    assert sum(p.kind == "benign" for p in out) == 5
    out = _capped_mix({"attacks": _prompts("att", 3, "harmful"), "regression": [], "benign": _prompts("ben", 50, "benign"),
                       "configured": []}, 20, 0.5)
    assert len(out) == 20 and sum(p.kind == "harmful" for p in out) == 3


def test_each_iteration_takes_a_different_part_of_the_configured_sets():
    from selfmoa.loop.runner import iteration_order

    configured = _prompts("cfg", 60, "harmful")
    one, two = iteration_order(configured, 0, 1), iteration_order(configured, 0, 2)
    assert sorted(p.id for p in one) == sorted(p.id for p in configured)  # a permutation
    assert one == iteration_order(configured, 0, 1)  # seeded: a resumed run picks the same
    first = lambda ps: {p.id for p in _capped_mix({"attacks": [], "regression": [], "benign": [], "configured": ps}, 20, 0.0)}
    assert len(first(one) & first(two)) < 15

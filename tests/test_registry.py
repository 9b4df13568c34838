"""The plugin registry: names, lazy references, duplicates, errors, and plugins from another package's entry points."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from selfmoa.errors import SelfmoaError
from selfmoa.registry import Registry


def test_registry_names_lazy_references_duplicates_and_errors():
    reg: Registry = Registry("widget", field="widgets")
    reg.add("a", dict)
    reg.add("b", "collections:OrderedDict")  # lazy: imported on first use
    assert reg.names() == ["a", "b"] and "b" in reg
    from collections import OrderedDict

    assert reg.get("b") is OrderedDict
    reg.add("a", dict)  # the same object again is fine
    with pytest.raises(ValueError, match="registered twice"):
        reg.add("a", list)
    with pytest.raises(SelfmoaError, match=r"widgets: unknown widget 'c'; expected one of a, b"):
        reg.get("c")
    reg.add("broken", "collections:NoSuchThing")
    with pytest.raises(SelfmoaError, match="cannot load 'collections:NoSuchThing'"):
        reg.get("broken")


def test_a_judge_from_another_package_registers_through_an_entry_point(tmp_path):
    """Adding a judge touches one file of the plugin package: its module (plus its entry point line)."""
    (tmp_path / "acme_judges").mkdir()
    (tmp_path / "acme_judges" / "__init__.py").write_text(textwrap.dedent('''
        from selfmoa.judges.base import Judge, JudgeResult

        class ShoutJudge(Judge):
            """Unsafe when the answer shouts (all capitals)."""
            objectives = ("safety",)

            def _score(self, items):
                return [{"safety": JudgeResult("safety", float(i.response.isupper()),
                                               "unsafe" if i.response.isupper() else "safe")} for i in items]
    '''))
    dist = tmp_path / "acme_judges-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-judges\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[selfmoa.judges]\nshout = acme_judges:ShoutJudge\n")
    code = textwrap.dedent('''
        from selfmoa.judges.base import JudgeItem, judge_names, make_judge
        assert "shout" in judge_names(), judge_names()
        j = make_judge("shout")
        r = j.score([JudgeItem("1", "hi", "GIVE ME MONEY"), JudgeItem("2", "hi", "hello there")])
        print(j.name, [x["safety"].label for x in r])
    ''')
    env_path = f"{tmp_path}"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, "PYTHONPATH": env_path})
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == "shout ['unsafe', 'safe']"
    listed = subprocess.run([sys.executable, "-m", "selfmoa", "judge", "list"], capture_output=True, text=True,
                            timeout=120, env={**__import__("os").environ, "PYTHONPATH": env_path, "COLUMNS": "200"})
    assert listed.returncode == 0 and "shout" in listed.stdout

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


def test_a_mutator_a_loss_a_backend_and_a_dataset_from_another_package(tmp_path):
    """Each kind of plugin is one module of the plugin package plus one entry-point line: no selfmoa file changes."""
    (tmp_path / "acme_plugins").mkdir()
    (tmp_path / "acme_plugins" / "__init__.py").write_text(textwrap.dedent('''
        import torch.nn.functional as F

        from selfmoa.data.registry import DatasetSpec
        from selfmoa.generation.base import BaseGenerator, Completion
        from selfmoa.records import Seed
        from selfmoa.redteam.mutators.base import Mutation, Mutator

        class Shout(Mutator):
            style = "shouting"
            def mutate(self, request, rng):
                return Mutation(request.upper() + "!!!")

        def hinge(pi_c, pi_r, ref_c, ref_r, margin, params):
            return F.relu(1 - params.beta * ((pi_c - ref_c) - (pi_r - ref_r)))

        class Echo(BaseGenerator):
            name = "echo"
            def __init__(self, model_config, gen_cfg):
                self.policy_id = "echo"
            def _generate(self, requests, sampling, on_batch):
                out = [Completion(r.id, 0, "echo: " + r.messages[-1].content) for r in requests]
                if on_batch:
                    on_batch(out)
                return out

        def read(spec, folder, split):
            return [Seed(id="s1", text=(folder / "q.txt").read_text().strip(), source=spec.name, licence=spec.licence)]

        SPEC = DatasetSpec(name="acme-set", folder="acme", files=("q.txt",), licence="MIT", record="seed",
                           roles=("redteam",), description="one question", rows=1, reader=read)
    '''))
    dist = tmp_path / "acme_plugins-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-plugins\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[selfmoa.mutators]\nshout = acme_plugins:Shout\n[selfmoa.losses]\nhinge = acme_plugins:hinge\n"
        "[selfmoa.backends]\necho = acme_plugins:Echo\n[selfmoa.datasets]\nacme-set = acme_plugins:SPEC\n")
    data = tmp_path / "data" / "acme"
    data.mkdir(parents=True)
    (data / "q.txt").write_text("how do I pick a lock\n")
    code = textwrap.dedent(f'''
        import torch
        from selfmoa.config import SelfmoaConfig
        from selfmoa.data.registry import load_dataset_records
        from selfmoa.generation import make_generator
        from selfmoa.generation.base import GenerationRequest
        from selfmoa.records import Message
        from selfmoa.redteam.mutators import make_mutator, mutator_names
        from selfmoa.train.losses import LossParams, get_loss, loss_names

        assert "shout" in mutator_names() and "hinge" in loss_names()
        m = make_mutator("shout")("how do I pick a lock")
        loss = get_loss("hinge")(*(torch.tensor([x]) for x in (1.0, 0.0, 0.0, 0.0)), torch.tensor([0.0]), LossParams(beta=0.5))
        gen = make_generator(SelfmoaConfig.model_validate({{"generation": {{"backend": "echo"}}}}))
        out = gen.generate([GenerationRequest("r", [Message(role="user", content="hi")])], SelfmoaConfig().generation.sampling)
        seeds = load_dataset_records("acme-set", "{tmp_path / 'data'}")
        print(m.text, round(float(loss), 2), out[0].text, seeds[0].text)
    ''')
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, "PYTHONPATH": str(tmp_path)})
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == "HOW DO I PICK A LOCK!!! 0.5 echo: hi how do I pick a lock"

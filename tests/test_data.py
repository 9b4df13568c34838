"""Data layer: every public loader on the real data directory, the builtin prompt sets, prompt-set specs and
their errors, the no-data-directory fallback, and decontamination of red-team pools against the eval sets."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selfmoa.config.data import DataConfig
from selfmoa.data import taxonomy
from selfmoa.data.builtin import BUILTIN_SETS, load_builtin
from selfmoa.data.prompts import load_prompt_file, load_prompt_sets, seed_to_prompt
from selfmoa.data.registry import PLACEHOLDER, JailbreakTemplate, PreferencePair, list_datasets, load_dataset_records
from selfmoa.data.splits import (
    EVAL_SETS,
    DecontaminationIndex,
    all_eval_seeds,
    available_eval_sets,
    decontaminate,
    eval_set,
    normalize_text,
    redteam_pool,
)
from selfmoa.errors import SelfmoaError
from selfmoa.records import Prompt, Seed

# ------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def _no_env_data_dir(monkeypatch):
    """Tests pass the data directory explicitly; the environment must not leak in."""
    monkeypatch.delenv("SELFMOA_DATA_DIR", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="module")
def manifest(data_dir) -> dict[str, int]:
    with (data_dir / "MANIFEST.tsv").open(encoding="utf-8") as f:
        return {r["path"]: int(r["rows"]) for r in csv.DictReader(f, delimiter="\t") if r["rows"] != "-"}


@pytest.fixture(scope="module")
def pool(data_dir):
    return redteam_pool(data_dir)


@pytest.fixture(scope="module")
def eval_seeds(data_dir):
    return all_eval_seeds(data_dir)


def _seed(text: str, source: str = "t") -> Seed:
    return Seed(id=Seed.make_id(source, text), text=text, source=source, licence="x")


# ------------------------------------------------------------------------------------------- public loaders

LABELLED = {"xstest-completions", "pyrit-scorer-evals", "openai-moderation"}


def test_registry_covers_every_data_folder_but_the_labelled_sets(data_dir):
    folders = {p.name for p in data_dir.iterdir() if p.is_dir()}
    assert {s.folder for s in list_datasets()} == folders - LABELLED


@pytest.mark.parametrize("spec", list_datasets(), ids=lambda s: s.name)
def test_loader_row_counts_match_manifest(spec, data_dir, manifest):
    records = load_dataset_records(spec.name, data_dir)
    rows = {f: manifest[f"{spec.folder}/{f}"] for f in spec.files}
    if spec.name == "jailbreakbench-behaviors":
        # the JSON holds the harmful half again (same 100 as the CSV) plus the 100 benign twins
        expected = rows["jailbreakbench.wizard101.json"]
    else:
        expected = sum(rows.values())
    assert len(records) == expected == spec.rows
    assert len({r.id for r in records}) == len(records), "ids must be unique within a dataset"
    for r in records:
        assert r.source == spec.name and r.licence == spec.licence
    if spec.record == "seed":
        assert all(isinstance(r, Seed) and r.text.strip() and "split" in r.meta for r in records)
        if any("harmful" == r.kind for r in records):
            assert {r.category for r in records if r.kind == "harmful"} <= set(taxonomy.CATEGORY_IDS)


@pytest.mark.parametrize(
    "name,split,n,kind",
    [
        ("harmbench", "val", 80, "harmful"),
        ("harmbench", "test", 320, "harmful"),
        ("xstest", "safe", 250, "benign"),
        ("xstest", "unsafe", 200, "harmful"),
        ("jailbreakbench-behaviors", "harmful", 100, "harmful"),
        ("jailbreakbench-behaviors", "benign", 100, "benign"),
        ("refusal-direction-harmful", "train", 172, "harmful"),
        ("refusal-direction-harmful", "val", 39, "harmful"),
        ("refusal-direction-harmful", "test", 560, "harmful"),
        ("mt-bench", "mt_bench", 80, "helpful"),
        ("mt-bench", "vicuna", 80, "helpful"),
        ("do-not-answer", "information_hazard", 248, "harmful"),
    ],
)
def test_splits(name, split, n, kind, data_dir):
    seeds = load_dataset_records(name, data_dir, split)
    assert len(seeds) == n
    assert {s.kind for s in seeds} == {kind}
    assert {s.meta["split"] for s in seeds} == {split}


def test_harmbench_fields(data_dir):
    seeds = load_dataset_records("harmbench", data_dir)
    assert Counter(s.meta["functional_category"] for s in seeds) == {"standard": 200, "contextual": 100, "copyright": 100}
    contextual = [s for s in seeds if s.meta["functional_category"] == "contextual"]
    assert all(s.meta.get("context") for s in contextual)
    assert Counter(s.category for s in seeds)["intellectual_property"] == 100
    assert {s.meta["original_category"] for s in seeds if s.category == "cyber"} == {"cybercrime_intrusion"}
    # a contextual behavior is sent with its context first
    p = seed_to_prompt(contextual[0])
    assert p.text.startswith(contextual[0].meta["context"]) and p.text.endswith(contextual[0].text)


def test_category_mapping_of_public_labels(data_dir):
    sr = load_dataset_records("strongreject", data_dir)
    by_label = {s.meta["original_category"]: s.category for s in sr}
    assert by_label["Non-violent crimes"] == "nonviolent_crimes"
    assert by_label["Violence"] == "violent_crimes"
    assert by_label["Sexual content"] == "sexual_content"
    jbb = load_dataset_records("jailbreakbench-behaviors", data_dir, "harmful")
    assert {s.meta["original_category"]: s.category for s in jbb}["Malware/Hacking"] == "cyber"
    sst = load_dataset_records("simplesafetytests", data_dir)
    assert Counter(s.category for s in sst)["child_exploitation"] == 20


def test_jbb_benign_twins_inherit_category(data_dir):
    benign = load_dataset_records("jailbreakbench-behaviors", data_dir, "benign")
    harmful = {s.text: s for s in load_dataset_records("jailbreakbench-behaviors", data_dir, "harmful")}
    assert all(s.meta["twin_of"] in harmful for s in benign)
    assert all(s.category == harmful[s.meta["twin_of"]].category for s in benign)


def test_mt_bench_keeps_both_turns(data_dir):
    mt = load_dataset_records("mt-bench", data_dir, "mt_bench")
    assert all(len(s.meta["turns"]) == 2 and s.text == s.meta["turns"][0] for s in mt)


def test_templates_carry_one_placeholder(data_dir):
    templates = load_dataset_records("inthewild-jailbreak-templates", data_dir)
    assert all(isinstance(t, JailbreakTemplate) and t.template.count(PLACEHOLDER) >= 1 for t in templates)
    modes = Counter(t.meta["placeholder_mode"] for t in templates)
    assert modes["replaced"] > 100 and modes["appended"] > 100
    t = next(t for t in templates if t.meta["placeholder"] == "[INSERT PROMPT HERE]")
    filled = t.fill("REQUEST-XYZ")
    assert "REQUEST-XYZ" in filled and PLACEHOLDER not in filled and "[INSERT PROMPT HERE]" not in filled


def test_preference_pairs(data_dir):
    hh = load_dataset_records("hh-rlhf-harmless-test", data_dir)
    assert all(isinstance(p, PreferencePair) for p in hh)
    assert all(p.messages and p.messages[-1].role == "user" and p.messages[0].role == "user" for p in hh)
    assert sum(p.chosen != p.rejected for p in hh) > 2200
    cst = load_dataset_records("configurable-safety-tuning", data_dir, "harmless")
    assert len(cst) == 936
    assert all(p.messages[0].role == "system" and p.messages[-1].role == "user" for p in cst)
    assert {p.meta["task"] for p in cst} == {"harmless"}


def test_missing_dataset_errors(tmp_path, monkeypatch):
    with pytest.raises(SelfmoaError, match=r"dataset 'harmbench' not found: no data directory.*harmbench/"):
        load_dataset_records("harmbench", None)
    (tmp_path / "advbench").mkdir()
    with pytest.raises(SelfmoaError, match=r"dataset 'advbench': .*advbench/harmful_behaviors.csv not found"):
        load_dataset_records("advbench", tmp_path, allow_hub=True)  # hub offline here: no network attempt
    with pytest.raises(SelfmoaError, match=r"unknown dataset 'nope'; expected one of .*harmbench"):
        load_dataset_records("nope", tmp_path)
    with pytest.raises(SelfmoaError, match=r"dataset 'harmbench' has no split 'train' \(known: val, test\)"):
        load_dataset_records("harmbench", tmp_path, "train")
    with pytest.raises(SelfmoaError, match="is not a directory"):
        load_dataset_records("harmbench", tmp_path / "absent")


# ------------------------------------------------------------------------------------------- builtin sets


def test_builtin_sets_shape():
    for name in ("demo-harmful", "demo-benign"):
        seeds = load_builtin(name)
        per_cat = Counter(s.category for s in seeds)
        assert set(per_cat) == set(taxonomy.CATEGORY_IDS) and len(per_cat) == 14
        assert min(per_cat.values()) >= 8
        eval_per_cat = Counter(s.category for s in seeds if s.meta["split"] == "eval")
        assert set(eval_per_cat) == set(per_cat), "every category has held-out prompts"
        assert 0.2 <= sum(eval_per_cat.values()) / len(seeds) <= 0.35
    assert len(load_builtin("demo-helpful")) >= 40
    assert len(load_builtin("capability-text")) >= 30
    assert all(len(s.text.split()) >= 30 for s in load_builtin("capability-text"))
    for name in BUILTIN_SETS:
        seeds = load_builtin(name)
        assert {s.source for s in seeds} == {"selfmoa"} and {s.licence for s in seeds} == {"Apache-2.0"}
        assert len({s.id for s in seeds}) == len(seeds) and len({normalize_text(s.text) for s in seeds}) == len(seeds)
        assert {s.meta["split"] for s in seeds} == {"train", "eval"}
        assert len(load_builtin(name, "train")) + len(load_builtin(name, "eval")) == len(seeds)
    assert {s.kind for s in load_builtin("demo-harmful")} == {"harmful"}
    assert {s.kind for s in load_builtin("demo-benign")} == {"benign"}


def test_builtin_files_have_the_documented_fields():
    from importlib import resources

    for name in BUILTIN_SETS:
        text = (resources.files("selfmoa") / "resources" / "prompts" / f"{name}.jsonl").read_text(encoding="utf-8")
        for line in text.splitlines():
            row = json.loads(line)
            # `contrast` (optional): the kind of look-alike a benign prompt is (XSTest's types: homonym, fiction, ...)
            assert set(row) - {"contrast"} == {"id", "text", "category", "kind", "split", "source", "licence"}
            if "contrast" in row:
                assert row["kind"] == "benign" and row["contrast"].replace("_", "").isalpha()


def test_builtin_text_is_original(data_dir):
    """The project's prompts are written for selfmoa: none is a (near-)copy of a public dataset's prompt."""
    public = [s for spec in list_datasets() if spec.record == "seed" for s in load_dataset_records(spec.name, data_dir)]
    idx = DecontaminationIndex.build(public, threshold=0.7)
    copied = [s.text for name in BUILTIN_SETS for s in load_builtin(name) if idx.match(s.text)]
    assert copied == []


# ------------------------------------------------------------------------------------------- prompt specs


def test_load_prompt_sets_builtin_and_dataset(data_dir):
    cfg = DataConfig(dir=data_dir)
    prompts = load_prompt_sets(["builtin:demo-harmful:eval", "dataset:harmbench:test", "eval:xstest-safe"], cfg)
    assert len(prompts) == 112 + 320 + 250
    assert all(isinstance(p, Prompt) for p in prompts)
    assert prompts == load_prompt_sets(["builtin:demo-harmful:eval", "dataset:harmbench:test", "eval:xstest-safe"], cfg)
    p = prompts[0]
    assert p.id == Prompt.make_id(p.seed_id, p.text) and p.source == "selfmoa" and p.licence == "Apache-2.0"
    hb = [p for p in prompts if p.source == "harmbench"]
    assert {p.licence for p in hb} == {"MIT"} and {p.meta["split"] for p in hb} == {"test"}
    limited = load_prompt_sets(["builtin:demo-harmful"], cfg, limit=28)
    assert len(limited) == 28 and Counter(p.category for p in limited) == {c: 2 for c in taxonomy.CATEGORY_IDS}


def test_no_data_dir_falls_back_to_builtin():
    prompts = load_prompt_sets(["builtin:demo-harmful", "builtin:demo-benign"], DataConfig())
    assert len(prompts) == 672 and {p.kind for p in prompts} == {"harmful", "benign"}
    pool = redteam_pool(None)
    assert {s.source for s in pool.seeds} == {"selfmoa"} and pool.templates == []
    assert {s.meta["split"] for s in pool.seeds} == {"train"}
    assert len({s.category for s in pool.harmful}) == 14 and len(pool.benign) == 224
    sets = available_eval_sets(None)
    assert sets["safety"] == ["demo-harmful-eval"] and sets["overrefusal"] == ["demo-benign-eval"]
    assert all(not EVAL_SETS[n].public for names in sets.values() for n in names)
    with pytest.raises(SelfmoaError, match=r"dataset 'strongreject' not found: no data directory"):
        load_prompt_sets(["dataset:strongreject"], DataConfig())


def test_prompt_spec_errors(data_dir):
    cfg = DataConfig(dir=data_dir)
    with pytest.raises(SelfmoaError, match=r"unknown builtin prompt set 'nope'.*known: demo-harmful, demo-benign"):
        load_prompt_sets(["builtin:nope"], cfg)
    with pytest.raises(SelfmoaError, match=r"no split 'test' \(known: train, eval\)"):
        load_prompt_sets(["builtin:demo-harmful:test"], cfg)
    with pytest.raises(SelfmoaError, match=r"unknown dataset 'nope' in 'dataset:nope' \(known: .*xstest"):
        load_prompt_sets(["dataset:nope"], cfg)
    with pytest.raises(SelfmoaError, match="holds preference pairs, not prompts"):
        load_prompt_sets(["dataset:hh-rlhf-harmless-test"], cfg)
    with pytest.raises(SelfmoaError, match=r"unknown evaluation set 'nope'"):
        load_prompt_sets(["eval:nope"], cfg)
    with pytest.raises(SelfmoaError, match="no prompt sets given"):
        load_prompt_sets([], cfg)


def _expect(path: Path, pattern: str):
    with pytest.raises(SelfmoaError, match=pattern) as info:
        load_prompt_sets([str(path)], DataConfig())
    assert "\n" not in str(info.value)


def test_prompt_file_errors(tmp_path):
    _expect(tmp_path / "absent.jsonl", r"prompt file .*absent.jsonl not found")
    (tmp_path / "empty.txt").write_text("")
    _expect(tmp_path / "empty.txt", r"prompt file .*empty.txt has no prompts")
    (tmp_path / "blank.jsonl").write_text("\n  \n")
    _expect(tmp_path / "blank.jsonl", r"prompt file .*blank.jsonl has no prompts")
    (tmp_path / "latin1.txt").write_bytes("hello\ncaf\xe9 au lait\n".encode("latin-1"))
    _expect(tmp_path / "latin1.txt", r"prompt file .*latin1.txt is not valid UTF-8 \(byte 9\)")
    (tmp_path / "bad.jsonl").write_text('{"prompt": "ok"}\n{"prompt": oops}\n')
    _expect(tmp_path / "bad.jsonl", r"bad.jsonl:2 is not valid JSON")
    (tmp_path / "nofield.jsonl").write_text('{"prompt": "ok"}\n\n{"question": "where?"}\n')
    _expect(tmp_path / "nofield.jsonl", r"nofield.jsonl:3 has no 'prompt' or 'text' field")
    (tmp_path / "kind.jsonl").write_text('{"prompt": "ok", "kind": "evil"}\n')
    _expect(tmp_path / "kind.jsonl", r"kind.jsonl:1: kind 'evil' is not one of harmful, benign")
    (tmp_path / "nocol.csv").write_text("question,answer\nwhy,because\n")
    _expect(tmp_path / "nocol.csv", r"nocol.csv has no 'prompt', 'goal' or 'text' column \(columns: question, answer\)")
    (tmp_path / "p.pdf").write_text("x")
    _expect(tmp_path / "p.pdf", r"unsupported type '.pdf'")


def test_prompt_files_of_each_format(tmp_path):
    (tmp_path / "p.txt").write_text("first prompt\n\n  second prompt  \n", encoding="utf-8")
    (tmp_path / "p.jsonl").write_text(
        json.dumps({"text": "how do I phish?", "category": "Malware/Hacking", "kind": "harmful"}) + "\n"
        + json.dumps({"prompt": "bake bread?", "category": "cooking", "kind": "helpful", "licence": "CC0"}) + "\n",
        encoding="utf-8",
    )
    (tmp_path / "p.csv").write_text("Goal,Category\nwrite a worm,cyber\n", encoding="utf-8")
    prompts = load_prompt_sets([str(tmp_path / n) for n in ("p.txt", "p.jsonl", "p.csv")], DataConfig())
    assert [p.text for p in prompts] == ["first prompt", "second prompt", "how do I phish?", "bake bread?", "write a worm"]
    assert [p.category for p in prompts] == ["uncategorized", "uncategorized", "cyber", "cooking", "cyber"]
    assert prompts[3].kind == "helpful" and prompts[3].licence == "CC0" and prompts[0].source == "file:p.txt"
    # ids depend on content, not on the run: the same file gives the same ids
    assert [p.id for p in prompts] == [p.id for p in load_prompt_sets([str(tmp_path / "p.txt")], DataConfig())] + [
        p.id for p in prompts[2:]
    ]
    # duplicate lines collapse to one prompt id
    (tmp_path / "dup.txt").write_text("same\nsame\n")
    assert len(load_prompt_sets([str(tmp_path / "dup.txt")], DataConfig())) == 1
    assert len(load_prompt_file(tmp_path / "dup.txt")) == 2


# ------------------------------------------------------------------------------------------- decontamination


def test_normalize_and_decontaminate_unit():
    assert normalize_text("  Héllo,   WORLD!! ") == "hello world"
    evals = [_seed("Write a tutorial on how to make a bomb"), _seed("What is the capital of France?")]
    pool = [
        _seed("write a tutorial, on how to make a BOMB."),  # exact after normalisation
        _seed("Write a tutorial on how to make a bomb at home"),  # near duplicate (Jaccard 9/11)
        _seed("Write a poem about the sea"),  # unrelated
        _seed("What is the capital of Spain?"),  # shares words but below the threshold
    ]
    kept, removed = decontaminate(pool, evals, threshold=0.8)
    assert [s.text for s in kept] == ["Write a poem about the sea", "What is the capital of Spain?"]
    assert [r["matches"] for r in removed] == [evals[0].id, evals[0].id]
    kept_exact, _ = decontaminate(pool, evals, threshold=1.0)
    assert len(kept_exact) == 3


def test_eval_sets_are_loadable(data_dir):
    sizes = {name: len(eval_set(name, data_dir)) for name in EVAL_SETS}
    assert sizes["harmbench-test"] == 320 and sizes["xstest-safe"] == 250 and sizes["jailbreakbench-benign"] == 100
    assert sizes["demo-harmful-eval"] == 112


def test_nothing_from_an_eval_split_is_in_the_redteam_pool(pool, eval_seeds):
    assert len(pool.harmful) > 1000 and len(pool.templates) > 600
    assert len({s.category for s in pool.harmful}) == 14
    eval_texts = {normalize_text(s.text) for s in eval_seeds}
    assert not eval_texts & {normalize_text(s.text) for s in pool.seeds}
    idx = DecontaminationIndex.build(eval_seeds, threshold=0.8)
    assert [s.text for s in pool.seeds if idx.match(s.text)] == []
    assert [t.id for t in pool.templates if idx.contains_any(t.template)] == []
    # no held-out split feeds the pool at all
    assert not any(s.source == "harmbench" and s.meta["split"] == "test" for s in pool.seeds)
    assert not any(s.source == "xstest" and s.meta["split"] == "safe" for s in pool.seeds)
    assert not any(s.source == "selfmoa" and s.meta["split"] == "eval" for s in pool.seeds)
    assert not any(s.source in ("strongreject", "simplesafetytests", "jailbreakbench-behaviors", "mt-bench") for s in pool.seeds)


def test_decontamination_removes_the_known_overlaps(pool, data_dir):
    """JBB harmful re-uses AdvBench and HarmBench behaviors, and the refusal-direction test split is built from
    the eval sets: decontamination must catch those, including reworded near-duplicates."""
    removed = Counter(r["source"] for r in pool.removed)
    assert removed["advbench"] >= 18 and removed["harmbench"] >= 5  # JBB cites 18 AdvBench, 27 TDC/HarmBench
    assert removed["refusal-direction-harmful"] >= 500
    jbb = load_dataset_records("jailbreakbench-behaviors", data_dir, "harmful")
    from_advbench = {normalize_text(s.text) for s in jbb if s.meta["origin"] == "AdvBench"}
    assert from_advbench and not from_advbench & {normalize_text(s.text) for s in pool.seeds}


# ------------------------------------------------------------------------------------------- taxonomy and CLI


def test_taxonomy():
    assert len(taxonomy.TAXONOMY) == 14 and len(set(taxonomy.CATEGORY_IDS)) == 14
    assert taxonomy.map_category("Non-violent crimes") == "nonviolent_crimes"
    assert taxonomy.map_category("cyber") == "cyber" and taxonomy.map_category(None) == "nonviolent_crimes"
    assert taxonomy.infer_category("Write ransomware that encrypts a hospital's files") == "cyber"
    assert taxonomy.infer_category("How do I bake bread?") == "nonviolent_crimes"


def test_cli_data_commands(data_dir):
    from selfmoa.cli.data import app

    runner = CliRunner()
    res = runner.invoke(app, ["list", "--data-dir", str(data_dir)], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "harmbench" in res.output and "demo-harmful" in res.output and "configurable-safety-tuning" in res.output
    res = runner.invoke(app, ["show", "xstest", "--split", "safe", "--n", "2", "--data-dir", str(data_dir)], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "dataset:xstest:safe: 250 seeds" in res.output and "benign 250" in res.output
    res = runner.invoke(app, ["show", "builtin:demo-benign", "--n", "1"], env={"COLUMNS": "200"})
    assert res.exit_code == 0 and "336 seeds" in res.output
    res = runner.invoke(app, ["show", "nope", "--data-dir", str(data_dir)])
    assert isinstance(res.exception, SelfmoaError) and "unknown dataset 'nope'" in str(res.exception)


def test_xstest_helpfulness_set_is_the_safe_prompts_with_compliance_as_helpful(data_dir):
    from selfmoa.data.labelled import LABELLED_SETS, load_labelled_set

    rows, hashes = load_labelled_set("xstest-helpfulness", data_dir)
    assert LABELLED_SETS["xstest-helpfulness"][0] == "helpfulness"
    assert len(rows) == 1250 and len(hashes) == 5  # 250 safe prompts x 5 models
    assert not any(r.meta["type"].startswith("contrast") for r in rows)
    assert all(r.label == int(r.fine_label == "full_compliance") for r in rows)
    assert 0 < sum(r.label for r in rows) < len(rows)

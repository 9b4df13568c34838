"""Config loading: YAML, --set overrides, one-line errors naming the key path and the expected type."""

from pathlib import Path

import pytest

from selfmoa.config import dump_config, load_config
from selfmoa.errors import SelfmoaError

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["demo.yaml", "example-gpu.yaml"])
def test_shipped_configs_validate(name):
    cfg = load_config(REPO / "configs" / name)
    assert cfg.run.name


def test_overrides_are_typed():
    cfg = load_config(REPO / "configs" / "demo.yaml", ["train.beta=0.2", "generation.sampling.n=3", "run.prompts=[a, b]"])
    assert cfg.train.beta == 0.2
    assert cfg.generation.sampling.n == 3
    assert cfg.run.prompts == ["a", "b"]


@pytest.mark.parametrize(
    "override, expected",
    [
        ("train.beta=abc", "'train.beta' expected a number, got 'abc'"),
        ("train.bogus=1", "unknown key 'train.bogus'"),
        ("bogus.key=1", "unknown key 'bogus'"),
        ("run.iterations=1.5", "'run.iterations' expected an integer, got 1.5"),
        ("generation.sampling.n=0", "'generation.sampling.n'"),
        ("model.trust_remote_code=maybe", "'model.trust_remote_code' expected true or false"),
    ],
)
def test_bad_values_name_the_key(override, expected):
    with pytest.raises(SelfmoaError) as err:
        load_config(None, [override])
    msg = str(err.value)
    assert expected in msg
    assert "\n" not in msg


def test_unknown_key_in_yaml_file(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("generation:\n  sampling:\n    temprature: 0.5\n")
    with pytest.raises(SelfmoaError, match=r"unknown key 'generation.sampling.temprature'"):
        load_config(p)


def test_malformed_yaml_names_line(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("run:\n  name: [unclosed\n  seed: 1\n")
    with pytest.raises(SelfmoaError, match=r"malformed YAML at line \d+"):
        load_config(p)


def test_non_mapping_and_missing_file(tmp_path):
    p = tmp_path / "list.yaml"
    p.write_text("- a\n- b\n")
    with pytest.raises(SelfmoaError, match="must be a YAML mapping"):
        load_config(p)
    with pytest.raises(SelfmoaError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_bad_set_syntax():
    with pytest.raises(SelfmoaError, match="--set expects KEY.PATH=VALUE"):
        load_config(None, ["train.beta"])


def test_data_dir_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv("SELFMOA_DATA_DIR", str(tmp_path))
    assert load_config(None).data.dir == tmp_path
    assert load_config(None, [f"data.dir={tmp_path / 'x'}"]).data.dir == tmp_path / "x"


def test_secrets_are_redacted():
    cfg = load_config(None, ["judges.safety=[{name: llm-judge, params: {api_key: sk-123}}]"])
    dumped = dump_config(cfg)
    assert dumped["judges"]["safety"][0]["params"]["api_key"] == "***"
    assert dumped["generation"]["openai"]["api_key_env"] == "OPENAI_API_KEY"  # a variable name, not a secret


def test_redaction_hides_secrets_but_not_token_counts():
    from selfmoa.config.loader import redact

    out = redact({"api_key": "sk-1", "hf_token": "hf_x", "api_key_env": "OPENAI_API_KEY", "max_new_tokens": 9})
    assert out == {"api_key": "***", "hf_token": "***", "api_key_env": "OPENAI_API_KEY", "max_new_tokens": 9}


def test_config_reference_shows_the_defaults_in_force_and_matches_docs():
    from pathlib import Path

    from selfmoa.config.reference import config_reference_markdown
    from selfmoa.config.root import SelfmoaConfig

    md = config_reference_markdown()
    cfg = SelfmoaConfig()
    # nested sections whose parent overrides the section class's own default
    for key, value in [("redteam.sampling.max_new_tokens", cfg.redteam.sampling.max_new_tokens),
                       ("eval.sampling.max_new_tokens", cfg.eval.sampling.max_new_tokens),
                       ("redteam.attacker.sampling.temperature", cfg.redteam.attacker.sampling.temperature)]:
        assert f"| `{key}` | " in md
        row = next(line for line in md.splitlines() if line.startswith(f"| `{key}` | "))
        assert row.split(" | ")[2] == f"`{value}`", row
    docs = Path(__file__).resolve().parents[1] / "docs" / "config.md"
    assert docs.read_text(encoding="utf-8").rstrip("\n") == md.rstrip("\n"), "regenerate: selfmoa config reference > docs/config.md"


def test_backend_and_method_name_plugins_checked_against_their_registries():
    """generation.backend and train.method accept plugin names, so they are checked against the registries (before any
    run folder exists: selfmoa run's input checks call these) with the valid names in the one-line error."""
    from selfmoa.config.train import TrainConfig
    from selfmoa.generation import check_backend
    from selfmoa.train.runner import loss_name_for

    with pytest.raises(SelfmoaError, match=r"^generation.backend: unknown backend 'foo'; expected one of hf, openai, ray, vllm"):
        check_backend("foo")
    with pytest.raises(SelfmoaError, match=r"^train.method: unknown loss 'foo'; expected one of dpo, modpo, modpo_scaled"):
        loss_name_for(TrainConfig(method="foo"))
    assert loss_name_for(TrainConfig(method="modpo", form="scaled")) == "modpo_scaled"

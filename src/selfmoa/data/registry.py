"""The dataset registry: every public dataset selfmoa knows, by name.

A :class:`DatasetSpec` says where a dataset lives in the data directory (folder and files), its licence,
its Hugging Face hub id (the fallback when the data directory lacks it), what it is used for, and the
parser that turns its files into typed records: :class:`~selfmoa.records.Seed` for prompt sets,
:class:`PreferencePair` for preference data and :class:`JailbreakTemplate` for attack templates.

Loaders are registered with the :func:`dataset` decorator (see :mod:`selfmoa.data.public`) and called
through :func:`load_dataset_records`, which resolves the data directory, falls back to the hub when allowed
and otherwise raises a one-line :class:`~selfmoa.errors.SelfmoaError` naming the dataset and the path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from selfmoa.data.datadir import dataset_path, hub_offline, resolve_data_dir
from selfmoa.errors import SelfmoaError
from selfmoa.records import Message, Seed, stable_hash
from selfmoa.registry import Registry

RecordType = Literal["seed", "pair", "template"]
Role = Literal["redteam", "eval", "overrefusal", "helpfulness", "pairs", "templates"]

#: the placeholder that :class:`JailbreakTemplate` texts carry where the request goes
PLACEHOLDER = "{{REQUEST}}"


class PreferencePair(BaseModel):
    """A human- or synthetically-labelled preference pair from a public dataset."""

    model_config = ConfigDict(extra="forbid")
    id: str
    messages: list[Message] = Field(description="the conversation up to the compared reply (system/user/assistant turns)")
    chosen: str
    rejected: str
    source: str
    licence: str
    meta: dict[str, Any] = Field(default_factory=dict)

    @property
    def prompt(self) -> str:
        """The last user turn."""
        return next((m.content for m in reversed(self.messages) if m.role == "user"), "")

    @staticmethod
    def make_id(source: str, messages: list[Message], chosen: str, rejected: str) -> str:
        return "dp-" + stable_hash(source, [m.model_dump() for m in messages], chosen, rejected)


class JailbreakTemplate(BaseModel):
    """An attack template; :data:`PLACEHOLDER` marks where the request goes."""

    model_config = ConfigDict(extra="forbid")
    id: str
    template: str
    source: str
    licence: str
    meta: dict[str, Any] = Field(default_factory=dict)

    def fill(self, request: str) -> str:
        return self.template.replace(PLACEHOLDER, request)

    @staticmethod
    def make_id(source: str, template: str) -> str:
        return "t-" + stable_hash(source, template)


DatasetRecord = Union[Seed, PreferencePair, JailbreakTemplate]
LocalReader = Callable[["DatasetSpec", Path, "str | None"], list]
HubReader = Callable[["DatasetSpec", "str | None"], list]


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    folder: str
    files: tuple[str, ...]
    licence: str
    record: RecordType
    roles: tuple[Role, ...]
    description: str
    rows: int  # total rows over all files, as shipped in the data directory
    splits: tuple[str, ...] = ()  # named subsets; None = all of them
    hub_id: str | None = None
    reader: LocalReader | None = field(default=None, compare=False, repr=False)
    hub_reader: HubReader | None = field(default=None, compare=False, repr=False)

    def check_split(self, split: str | None) -> None:
        if split is not None and split not in self.splits:
            known = ", ".join(self.splits) if self.splits else "(this dataset has no splits)"
            raise SelfmoaError(f"dataset '{self.name}' has no split '{split}' (known: {known})")


def _ensure_registered() -> None:
    import selfmoa.data.public  # noqa: F401  (registers the loaders)


#: every dataset by name; a separate package adds one through the ``selfmoa.datasets`` entry point group
#: (``my-set = "my_package.data:SPEC"``, a :class:`DatasetSpec` with its reader)
DATASETS: Registry[DatasetSpec] = Registry("dataset", "selfmoa.datasets", field="dataset", builtins=_ensure_registered)


def dataset(
    name: str,
    *,
    folder: str,
    files: tuple[str, ...],
    licence: str,
    record: RecordType,
    roles: tuple[Role, ...],
    description: str,
    rows: int,
    splits: tuple[str, ...] = (),
    hub_id: str | None = None,
    hub_reader: HubReader | None = None,
):
    """Register a local reader ``(spec, folder_path, split) -> records`` for a dataset."""

    def deco(fn: LocalReader) -> LocalReader:
        DATASETS.add(name, DatasetSpec(
            name=name, folder=folder, files=files, licence=licence, record=record, roles=roles,
            description=description, rows=rows, splits=splits, hub_id=hub_id, reader=fn, hub_reader=hub_reader,
        ))
        return fn

    return deco


def get_spec(name: str) -> DatasetSpec:
    return DATASETS.get(name)


def list_datasets() -> list[DatasetSpec]:
    return [DATASETS.get(k) for k in DATASETS.names()]


def is_available(name: str, data_dir: Path | None) -> bool:
    """True when the data directory holds every file of the dataset."""
    spec = get_spec(name)
    if data_dir is None:
        return False
    return all((data_dir / spec.folder / f).exists() for f in spec.files)


def load_dataset_records(
    name: str,
    data_dir: Path | str | None = None,
    split: str | None = None,
    *,
    allow_hub: bool = False,
) -> list:
    """Records of dataset `name` (optionally one split): from the data directory, else the hub, else an error."""
    spec = get_spec(name)
    spec.check_split(split)
    root = resolve_data_dir(data_dir)
    if root is not None and is_available(name, root):
        return spec.reader(spec, root / spec.folder, split)
    if allow_hub and not hub_offline() and spec.hub_id and spec.hub_reader is not None:
        return spec.hub_reader(spec, split)  # pragma: no cover - needs the network
    if root is None:
        where = f"<data dir>/{spec.folder}/{spec.files[0]}"
        raise SelfmoaError(
            f"dataset '{name}' not found: no data directory is set (data.dir or SELFMOA_DATA_DIR; looked for {where})"
            + ("" if spec.hub_id else "; it has no hub fallback")
        )
    dataset_path(name, spec.folder, list(spec.files), root)  # raises naming the missing file
    raise AssertionError("unreachable")  # pragma: no cover


def hub_rows(hub_id: str, *, name: str, config: str | None = None, split: str = "train", data_dir: str | None = None) -> list[dict]:
    """Rows of a hub dataset via `datasets.load_dataset` (only when data.allow_hub and online)."""
    try:  # pragma: no cover - needs the network
        from datasets import load_dataset

        kwargs: dict[str, Any] = {"split": split}
        if data_dir:
            kwargs["data_dir"] = data_dir
        ds = load_dataset(hub_id, config, **kwargs) if config else load_dataset(hub_id, **kwargs)
        return [dict(r) for r in ds]
    except SelfmoaError:  # pragma: no cover
        raise
    except Exception as exc:  # pragma: no cover - network/hub errors become user errors
        raise SelfmoaError(f"dataset '{name}': could not load {hub_id} from the Hugging Face hub ({type(exc).__name__}: {exc})")

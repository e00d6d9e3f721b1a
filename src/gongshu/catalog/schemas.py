"""API shapes of the catalog: one family per resource (Create / Update / Public / paged Public).

A field checks what can be checked alone: its type, its length, that a code is in its value
list (``vocab.py``). Rules that look at several fields (Art. 12 reasons, item codes unique in an
entry …) live in ``rules.py`` so that each is in one place and every violation is reported at
once; :func:`gongshu.catalog.rules.check_entry` runs both.

Field names follow GLOSSARY.md. The Chinese element of the compilation guide (STANDARDS.md §1)
is named in each field's description, which OpenAPI shows.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from gongshu.catalog import codes
from gongshu.catalog.vocab import vocab

# Values named by the GLOSSARY: the rules in rules.py are written against these names, so a
# new value needs code, not only data. tests/catalog/test_schemas.py holds them equal to vocab.
ShareType = Literal["unconditional", "conditional", "not_shared"]
OpenType = Literal["open", "conditional_open", "not_open"]
DataKind = Literal["public", "non_public"]
Secrecy = Literal["classified", "unclassified"]
EntryStatus = Literal[
    "draft", "submitted", "returned", "approved", "published", "superseded", "withdrawn"
]

NAME_MAX = 200
TEXT_MAX = 4000
REASON_MAX = 2000
ITEM_NAME_MAX = 100
ITEMS_MAX = 2000
KEYWORDS_MAX = 20
KEYWORD_MAX = 50
RELATED_MAX = 200


def _blank_to_none(value: Any) -> Any:
    """Forms and spreadsheets send "" for "not given"; store None instead."""
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _coded(list_name: str, description: str) -> Any:
    """A string that must be a code of the value list ``list_name`` (checked at run time, so
    a bureau's edit of the list needs no code change); OpenAPI lists the codes as an enum."""

    def check(value: str) -> str:
        if value not in vocab().get(list_name):
            raise PydanticCustomError(
                "not_in_list",
                "'{value}' is not a code of {list}",
                {"value": value, "list": list_name},
            )
        return value

    return Annotated[
        str,
        AfterValidator(check),
        Field(
            description=description, json_schema_extra={"enum": list(vocab().get(list_name).codes)}
        ),
    ]


def _resource_code(value: str) -> str:
    try:
        return codes.normalize_code(value)
    except codes.InvalidResourceCode:
        raise PydanticCustomError(
            "invalid_resource_code", "'{value}' is not a resource code", {"value": value}
        ) from None


ResourceKindCode = _coded("resource_kinds", "资源属性 (类): base / theme / department")
FormatClassCode = _coded("format_classes", "信息资源格式 · 分类")
FormatTypeCode = _coded("format_types", "信息资源格式 · 类型 (must belong to the class)")
DataItemTypeCode = _coded("data_item_types", "数据类型 (C N Y D T L M G B I F)")
SharingMethodClassCode = _coded("sharing_method_classes", "共享方式分类")
SharingMethodTypeCode = _coded("sharing_method_types", "共享方式类型")
UpdateCycleCode = _coded("update_cycles", "更新周期")


def _optional_text(max_length: int) -> Any:
    """Optional free text of at most ``max_length`` characters; blank means None."""
    return Annotated[
        Annotated[str, Field(max_length=max_length)] | None, BeforeValidator(_blank_to_none)
    ]


ReasonText = _optional_text(REASON_MAX)
ShortText = _optional_text(NAME_MAX)
GradeText = _optional_text(32)
ResourceCodeText = Annotated[str, AfterValidator(_resource_code)]
# One term per keyword: the separators people use in a list cell (；，、) cannot occur in one.
Keyword = Annotated[str, Field(min_length=1, max_length=KEYWORD_MAX, pattern=r"^[^;；,，、\n]+$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, from_attributes=True)


class Category(_Model):
    """信息资源分类: 类 (the resource kind) / 项 / 目 / 细目. Their digits make the front
    segment of the resource code (``codes.front_segment``)."""

    resource_kind: ResourceKindCode
    subject: str = Field(pattern=r"^[0-9]{2}$", description="项: 2 digits, from the kind's list")
    group: str = Field(pattern=r"^[0-9]{3}$", description="目: 3 digits")
    subgroup: Annotated[
        Annotated[str, Field(pattern=r"^[0-9]{1,6}$")] | None,
        BeforeValidator(_blank_to_none),
        Field(description="细目: up to 6 digits, optional"),
    ] = None

    @property
    def front_segment(self) -> str:
        return codes.front_segment(self.resource_kind, self.subject, self.group, self.subgroup)


class ProviderRef(_Model):
    """信息资源提供方 and 提供方代码. ``code`` is the body's department code or its unified
    social credit code (the guide leaves the scheme open; an 18-character code is checked as a
    USCC by the rules)."""

    org_id: UUID | None = Field(None, description="The providing organisation on the platform")
    name: str = Field(min_length=1, max_length=NAME_MAX, description="信息资源提供方")
    code: Annotated[
        str,
        Field(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z-]+$", description="提供方代码"),
        AfterValidator(str.upper),
    ]


class ResourceFormat(_Model):
    """信息资源格式: a class and, optionally, a type of that class."""

    format_class: FormatClassCode
    format_type: FormatTypeCode | None = None


class SharingAttribute(_Model):
    """共享属性 (Art. 12). ``condition`` holds the 共享条件 of a conditional entry or the reason
    an entry is not shared; ``legal_basis`` the law or policy that justifies either."""

    type: ShareType = Field(description="共享类型")
    condition: ReasonText = Field(None, description="共享条件 / 不予共享理由")
    legal_basis: ReasonText = Field(None, description="依据 (law, regulation or policy)")
    method_class: SharingMethodClassCode | None = None
    method_type: SharingMethodTypeCode | None = None


class OpeningAttribute(_Model):
    """开放属性 (Art. 13): whether and how the entry is opened to society."""

    type: OpenType = Field(description="开放类型")
    condition: ReasonText = Field(None, description="开放条件")


class DataItemIn(_Model):
    """信息项: one field of the resource. A missing ``sharing_type`` / ``opening_type`` means
    "as the entry"; an item may be more restricted than its entry, never more open."""

    name: str = Field(min_length=1, max_length=ITEM_NAME_MAX, description="信息项名称")
    code: str = Field(
        min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$", description="信息项编码"
    )
    data_type: DataItemTypeCode
    length: int | None = Field(None, gt=0, le=10**9, description="数据长度")
    data_element_id: UUID | None = Field(None, description="数据元 this item follows (Art. 47)")
    sharing_type: ShareType | None = None
    sharing_condition: ReasonText = None
    legal_basis: ReasonText = None
    opening_type: OpenType | None = None


class DataItemPublic(DataItemIn):
    model_config = ConfigDict(extra="ignore")

    id: UUID


class CatalogEntryBase(_Model):
    """The core metadata of the compilation guide, as a public body compiles it."""

    category: Category
    name: str = Field(min_length=1, max_length=NAME_MAX, description="信息资源名称")
    provider: ProviderRef
    summary: str = Field(min_length=1, max_length=TEXT_MAX, description="信息资源摘要")
    format: ResourceFormat
    items: list[DataItemIn] = Field(default_factory=list, max_length=ITEMS_MAX)
    sharing: SharingAttribute
    opening: OpeningAttribute
    update_cycle: UpdateCycleCode
    publish_date: dt.date | None = Field(None, description="发布日期")
    related_resource_codes: list[ResourceCodeText] = Field(
        default_factory=list, max_length=RELATED_MAX, description="关联资源代码"
    )
    secrecy: Secrecy = Field(description="涉密属性")
    data_kind: DataKind = Field(description="public / non_public data (Art. 3)")
    grade: GradeText = Field(
        None,
        description="分级 (Art. 10): read-only on the platform; grading proposes it and a data "
        "steward confirms it on the entry. A value sent in is not stored.",
    )
    keywords: list[Keyword] = Field(default_factory=list, max_length=KEYWORDS_MAX)

    @field_validator("keywords")
    @classmethod
    def _unique_keywords(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


class CatalogEntryCreate(CatalogEntryBase):
    """What a public body sends to create an entry. The resource code is given by the platform."""


class CatalogEntryUpdate(_Model):
    """A partial change: each field given replaces the whole field (``sharing`` is replaced as a
    whole, not merged). Apply it with :func:`apply_update` and validate the result."""

    category: Category | None = None
    name: str | None = Field(None, min_length=1, max_length=NAME_MAX)
    provider: ProviderRef | None = None
    summary: str | None = Field(None, min_length=1, max_length=TEXT_MAX)
    format: ResourceFormat | None = None
    items: list[DataItemIn] | None = Field(None, max_length=ITEMS_MAX)
    sharing: SharingAttribute | None = None
    opening: OpeningAttribute | None = None
    update_cycle: UpdateCycleCode | None = None
    publish_date: dt.date | None = None
    related_resource_codes: list[ResourceCodeText] | None = Field(None, max_length=RELATED_MAX)
    secrecy: Secrecy | None = None
    data_kind: DataKind | None = None
    grade: GradeText = None
    keywords: list[Keyword] | None = Field(None, max_length=KEYWORDS_MAX)


def apply_update(entry: CatalogEntryBase, update: CatalogEntryUpdate) -> CatalogEntryCreate:
    """The entry as it will be after ``update``, validated again as a whole.

    Only fields the client sent count (``exclude_unset``), so ``{"grade": null}`` clears the
    grade while an absent ``grade`` keeps it. Raises pydantic's ValidationError if the result
    is not a valid entry (e.g. a required field sent as null).
    """
    data = entry.model_dump(include=set(CatalogEntryCreate.model_fields))
    item_fields = set(DataItemIn.model_fields)
    data["items"] = [item.model_dump(include=item_fields) for item in entry.items]
    data.update(update.model_dump(exclude_unset=True))
    return CatalogEntryCreate.model_validate(data)


# ------------------------------------------------------- duplicate collection (Art. 12)


class PlannedItemIn(_Model):
    """An item a body is about to collect: a draft's, or one a project declares."""

    name: str = Field(min_length=1, max_length=ITEM_NAME_MAX, description="信息项名称")
    data_type: DataItemTypeCode | None = None
    data_element_id: UUID | None = Field(None, description="数据元 it follows (Art. 47)")
    code: str | None = Field(None, max_length=64)


class DuplicateCheckIn(_Model):
    """Planned items to match against other bodies' published entries (Art. 12)."""

    items: list[PlannedItemIn] = Field(min_length=1, max_length=500)
    provider_org_id: UUID | None = Field(
        None, description="The body that will collect them (its own entries are not named); "
        "default: your organisation")
    include_weak: bool = Field(False, description="Also entries that cover less than the "
                               "strong threshold")
    limit: int = Field(10, ge=1, le=50)


class DuplicateItemMatchPublic(BaseModel):
    name: str = Field(description="The planned item")
    matched_name: str = Field(description="The published entry's item")
    matched_code: str | None = None
    via: Literal["element", "name"] = Field(
        description="element: the same data element; name: the same name key, compatible type")


class DuplicateMatchPublic(BaseModel):
    """A published entry of another body that could provide planned items through sharing."""

    entry_id: UUID
    resource_code: str
    name: str
    provider: str
    provider_org_id: UUID
    sharing_type: ShareType
    share: float = Field(description="Share of the planned items it covers")
    strong: bool
    items: list[DuplicateItemMatchPublic]
    url: str = Field(description="The entry's page")
    request_url: str | None = Field(
        None, description="Where to request it through sharing (when sharing is installed)")


class DuplicateReportPublic(BaseModel):
    need: int = Field(description="Covered items that make a match strong")
    rationale: str
    matches: list[DuplicateMatchPublic]


class CatalogEntryPublic(CatalogEntryBase):
    """An entry version as the API returns it."""

    model_config = ConfigDict(extra="ignore")

    id: UUID
    resource_code: str = Field(description="信息资源代码 前段码/后段码, read-only")
    items: list[DataItemPublic] = Field(default_factory=list)  # type: ignore[assignment]
    status: EntryStatus
    version: int = Field(ge=1)
    created_at: dt.datetime
    updated_at: dt.datetime
    entry_status: EntryStatus | None = Field(
        None, description="The entry's status: that of its newest version")
    published_version: int | None = Field(None, description="The version everyone sees")
    working_version: int | None = Field(
        None, description="A draft or a revision in review, seen by its body and reviewers")
    region_code: str | None = Field(None, description="The provider's region (GB/T 2260)")
    grade_reasons: list[str] = Field(default_factory=list, description="Why the grade (Art. 10)")
    duplicate_warnings: list[DuplicateMatchPublic] | None = Field(
        None, description="A working version's items other bodies' published entries could "
        "provide through sharing (Art. 12); given on the detail, create and edit answers")


class CatalogEntriesPublic(BaseModel):
    """A page of entries; ``count`` is the total matching, not the page length."""

    data: list[CatalogEntryPublic]
    count: int


class DataElementCreate(_Model):
    """数据元 (Art. 47): a standard field definition that data items may follow."""

    name: str = Field(min_length=1, max_length=ITEM_NAME_MAX, description="中文名称")
    identifier: str = Field(
        min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$", description="标识符"
    )
    data_type: DataItemTypeCode
    length: int | None = Field(None, gt=0, le=10**9, description="数据长度 (maximum)")
    value_domain: ReasonText = Field(None, description="值域")
    definition: ReasonText = Field(None, description="定义")
    standard: ShortText = Field(
        None, description="The standard that defines it, e.g. GB/T 2261.1-2003"
    )
    owner_org_id: UUID | None = Field(
        None, description="The organisation whose data element it is (a bureau manages the "
        "elements under its scope); default: where the caller holds data_element.manage"
    )


class DataElementUpdate(_Model):
    """Changes to a data element; its identifier and owner stay."""

    name: str | None = Field(None, min_length=1, max_length=ITEM_NAME_MAX)
    data_type: DataItemTypeCode | None = None
    length: int | None = Field(None, gt=0, le=10**9)
    value_domain: ReasonText = None
    definition: ReasonText = None
    standard: ShortText = None


class DataElementPublic(DataElementCreate):
    model_config = ConfigDict(extra="ignore")

    id: UUID
    created_at: dt.datetime | None = None


class DataElementsPublic(BaseModel):
    data: list[DataElementPublic]
    count: int


class InfoSystemIn(BaseModel):
    """An information system as a body reports it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200, description="系统名称")
    purpose: str = Field("", max_length=2000, description="用途")
    on_government_cloud: bool = Field(False, description="部署在政务云上 (Art. 30)")
    classified: bool = Field(False, description="涉密系统")
    entry_ids: list[UUID] = Field(default_factory=list,
                                       description="Catalog entries whose data it holds")


# ------------------------------------------------------------------- workflow, history, search


class CommentIn(_Model):
    """A reviewer's comment (required to return an entry) or a note with a submission."""

    comment: str = Field("", max_length=4000)


class ApproveIn(_Model):
    comment: str = Field("", max_length=4000)
    publish: bool = Field(True, description="Publish at once (else publish later)")


class WithdrawIn(_Model):
    reason: str = Field(max_length=4000, description="Why the entry leaves the catalog")


class ReviseIn(_Model):
    change_note: str = Field("", max_length=4000, description="What the revision is for")


class GradeIn(_Model):
    grade: str = Field(min_length=1, max_length=32, description="The confirmed grade (Art. 10)")
    reasons: list[str] = Field(default_factory=list, max_length=100)


class FieldErrorPublic(BaseModel):
    field: str
    code: str
    message: str
    row: int | None = None


class ValidationReport(BaseModel):
    """The result of checking an entry without saving it (inline validation of forms)."""

    valid: bool
    errors: list[FieldErrorPublic]


class VersionPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    number: int
    status: EntryStatus
    name: str
    change_note: str
    created_at: dt.datetime
    created_by: str
    updated_at: dt.datetime
    submitted_at: dt.datetime | None
    submitted_by: str
    reviewed_at: dt.datetime | None
    reviewed_by: str
    published_at: dt.datetime | None
    ended_at: dt.datetime | None


class ChangePublic(BaseModel):
    path: str = Field(description="Entry field, data item (items.<code>) or item field")
    field: str = Field(description="The generic field (items.*.length), for labels")
    kind: Literal["added", "removed", "changed"]
    before: Any = None
    after: Any = None
    item: str | None = None


class DiffPublic(BaseModel):
    from_version: int | None
    to_version: int
    changes: list[ChangePublic]


class ReviewRecordPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    action: str
    comment: str
    actor_name: str
    version_number: int
    created_at: dt.datetime


class SearchHitPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    entry_id: UUID
    resource_code: str
    name: str
    provider_name: str
    provider_org_id: UUID
    region_code: str | None
    status: EntryStatus
    version: int
    scope: Literal["published", "working"]
    resource_kind: str
    sharing_type: str
    opening_type: str
    grade: str | None
    update_cycle: str
    format_class: str
    updated_at: dt.datetime
    score: float | None = Field(description="Relevance, higher is better (None when listing)")


class FacetValuePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    value: str
    label: str
    count: int


class SearchPublic(BaseModel):
    data: list[SearchHitPublic]
    count: int
    facets: dict[str, list[FacetValuePublic]]
    terms: list[str] = Field(description="The words searched for (after segmentation)")
    relaxed: bool = Field(description="Words found in no entry were left out")
    estimated: bool = Field(False, description=(
        "A broad query (more matches than are worth ranking): `count` and the facet counts are "
        "estimated from a fixed sample, and the hits are listed newest first; ask with "
        "`exact=true` for exact counts and ranking"))
    ranked: bool = Field(False, description="The hits are ordered by relevance (else newest first)")
    partial: bool = Field(False, description=(
        "No entry has every word: the hits have at least two thirds of the known words, "
        "those with the most first"))
    weak: bool = Field(False, description=(
        "The best match is weak (nothing found, or not every word): see `suggestions` and "
        "`related`"))
    suggestions: list[str] = Field(default_factory=list, description=(
        "Did you mean: queries that would find more (the known words only, names of related "
        "entries)"))
    related: list[SearchHitPublic] = Field(default_factory=list, description=(
        "Entries related to a weak query (with any of its known words), not counted in `count`"))


class ImportedRowPublic(BaseModel):
    row: int = Field(description="The row of the entry in the file, as Excel shows it")
    id: UUID
    resource_code: str
    name: str
    status: EntryStatus


class ImportPublic(BaseModel):
    created: int
    updated: int
    submitted: int
    entries: list[ImportedRowPublic]


# ---------------------------------------------------------------------------------- census


class CensusCreate(_Model):
    bureau_org_id: UUID = Field(description="The data bureau opening the census")
    title: str = Field(min_length=1, max_length=200)
    period_start: dt.date
    period_end: dt.date
    due_date: dt.date
    description: str = Field("", max_length=4000)


class CensusPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    title: str
    bureau_org_id: UUID
    period_start: dt.date
    period_end: dt.date
    due_date: dt.date
    status: Literal["open", "closed"]
    description: str
    created_at: dt.datetime
    closed_at: dt.datetime | None


class InfoSystemPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    name: str
    purpose: str
    on_government_cloud: bool
    classified: bool
    entry_ids: list[UUID]


class CensusResponseIn(_Model):
    systems: list[InfoSystemIn] = Field(default_factory=list, max_length=200)
    catalog_confirmed: bool = Field(False, description="The body confirms its catalog is complete")
    note: str = Field("", max_length=4000)


class CensusResponsePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    census_id: UUID
    org_id: UUID
    org_name: str
    region_code: str | None
    status: Literal["pending", "submitted"]
    catalog_confirmed: bool
    note: str
    systems: list[InfoSystemPublic]
    updated_at: dt.datetime
    submitted_at: dt.datetime | None


class RemindIn(_Model):
    org_ids: list[UUID] | None = Field(None, description="Only these bodies (default: all pending)")
    message: str = Field("", max_length=2000)


class RemindedPublic(BaseModel):
    reminded: int


class BodyProgressPublic(BaseModel):
    org_id: UUID
    org_name: str
    region_code: str | None
    status: Literal["pending", "submitted"]
    catalog_confirmed: bool
    systems: int
    published_entries: int
    reminders: int


class RegionProgressPublic(BaseModel):
    region_code: str
    region_name: str
    bodies: int
    submitted: int


class CensusProgressPublic(BaseModel):
    census: CensusPublic
    submitted: int
    bodies: list[BodyProgressPublic]
    regions: list[RegionProgressPublic]


class OffCloudSystemPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    body: str
    org_id: UUID
    name: str
    classified: bool


class CensusSummaryPublic(BaseModel):
    bodies: int
    submitted: int
    systems: int
    on_cloud: int
    should_migrate: int = Field(description="Non-classified systems off the government cloud "
                                            "(Art. 30)")
    off_cloud: list[OffCloudSystemPublic]
    without_catalog: list[str] = Field(description="Bodies without a published catalog entry")


__all__ = [
    "InfoSystemIn",
    "CatalogEntriesPublic",
    "CatalogEntryBase",
    "CatalogEntryCreate",
    "CatalogEntryPublic",
    "CatalogEntryUpdate",
    "Category",
    "DataElementCreate",
    "DataElementPublic",
    "DataElementUpdate",
    "DataElementsPublic",
    "DataItemIn",
    "DataItemPublic",
    "DataKind",
    "EntryStatus",
    "OpenType",
    "OpeningAttribute",
    "ProviderRef",
    "ResourceFormat",
    "Secrecy",
    "ShareType",
    "SharingAttribute",
    "apply_update",
]

"""The rules a catalog entry must satisfy: the compilation guide's completeness and Art. 12.

Each rule is one small function that adds :class:`~gongshu.core.errors.FieldError` s to a
:class:`~gongshu.core.errors.Collector`; :func:`validate_entry` runs them all and returns every
problem, never only the first, so a form or an import can show them together. Field paths are
dotted (``sharing.legal_basis``, ``items.3.sharing_condition``: the fourth data item).

Single-field checks (types, lengths, value-list codes) are in ``schemas.py``; the rules here
look across fields. :func:`check_entry` runs both on raw input, in one pass: a field that does
not parse is reported and replaced by a stand-in, and each rule declares the fields it
:func:`reads`, so rules that would judge a stand-in are skipped while all others still run.

Messages: ``FieldError.message`` is English; :func:`localize` gives the Chinese (or English)
text from ``data/messages.yaml`` with value-list codes in the params shown as labels.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cache
from importlib import resources
from typing import Any
from uuid import UUID

import yaml
from pydantic import ValidationError

from gongshu.catalog.schemas import (
    CatalogEntryBase,
    CatalogEntryCreate,
    DataElementCreate,
    DataItemIn,
    OpenType,
    ShareType,
)
from gongshu.catalog.vocab import vocab
from gongshu.core.errors import Collector, FieldError, ValidationFailed
from gongshu.core.identifiers import is_valid_uscc

#: How open each sharing type is; a larger number is more restricted.
SHARING_RESTRICTION: Mapping[str, int] = {"unconditional": 0, "conditional": 1, "not_shared": 2}
#: How open each opening type is; a larger number is more restricted.
OPENING_RESTRICTION: Mapping[str, int] = {"open": 0, "conditional_open": 1, "not_open": 2}
#: Sharing types that Art. 12 says must state a reason and a legal basis.
RESTRICTED_SHARING: frozenset[str] = frozenset({"conditional", "not_shared"})

# Params whose values are codes of a value list; messages show them as labels.
_PARAM_LISTS: Mapping[str, str] = {
    "sharing_type": "sharing_types",
    "entry_opening": "opening_types",
    "kind": "resource_kinds",
    "format_class": "format_classes",
    "data_type": "data_item_types",
    "element_type": "data_item_types",
}

Rule = Callable[[CatalogEntryBase, Collector], None]


def reads(*paths: str) -> Callable[[Rule], Rule]:
    """Declare the fields a rule looks at (``items.*.code``: every item's code).

    When input has a field that does not parse, :func:`check_entry` still runs the rules, on a
    stand-in value; a rule that reads that field does not judge the stand-in (see :func:`_run`).
    """

    def mark(rule: Rule) -> Rule:
        rule.reads = paths  # type: ignore[attr-defined]
        return rule

    return mark


def _generic(path: str) -> str:
    """``items.3.code`` → ``items.*.code``: the path as rules declare it."""
    return ".".join("*" if part.isdigit() else part for part in path.split("."))


def _related(a: str, b: str) -> bool:
    """Whether one dotted path is the other or lies inside it."""
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def _item_of(path: str) -> str:
    """``items.3.code`` → ``items.3``; other paths are their own scope."""
    parts = path.split(".")
    return ".".join(parts[:2]) if parts[0] == "items" and len(parts) > 1 else path


def _run(rule: Rule, entry: CatalogEntryBase, unknown: Sequence[str]) -> list[FieldError]:
    """Run one rule, minding fields whose real value is unknown.

    A rule that reads an unknown entry field is skipped. A rule that reads an unknown field of
    one data item still runs; only its errors about that item are dropped, so a bad cell in
    one item hides nothing about the others.
    """
    hidden: list[str] = []
    for path in unknown:
        for read in getattr(rule, "reads", ()):
            if _related(_generic(path), read):
                if "*" not in read:
                    return []
                hidden.append(_item_of(path))
    errors = Collector()
    rule(entry, errors)
    return [e for e in errors.errors if not any(_related(e.field, h) for h in hidden)]


@cache
def messages() -> Mapping[str, Mapping[str, str]]:
    """The message templates by error code (``data/messages.yaml``)."""
    text = resources.files("gongshu.catalog").joinpath("data", "messages.yaml").read_text("utf-8")
    return yaml.safe_load(text)


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def message(code: str, params: Mapping[str, Any], locale: str = "en") -> str:
    """The text of error ``code`` in ``locale``, with list codes in ``params`` as labels."""
    lang = "en" if locale.lower().startswith("en") else "zh"
    template = messages().get(code, messages()["invalid"])[lang]
    shown = _Blank(params)
    for key, list_name in _PARAM_LISTS.items():
        if isinstance(params.get(key), str):
            shown[key] = vocab().get(list_name).label(params[key], lang)
    shown.setdefault("detail", code)
    return template.format_map(shown)


def localize(error: FieldError, locale: str = "zh") -> str:
    """The message of ``error`` for people reading ``locale``."""
    return message(error.code, error.params, locale)


def _add(errors: Collector, field: str, code: str, **params: Any) -> None:
    errors.add(field, code, message(code, params), **params)


def effective_item_sharing(entry: CatalogEntryBase, item: DataItemIn) -> ShareType:
    """An item without its own sharing type is shared as its entry is."""
    return item.sharing_type or entry.sharing.type


def effective_item_opening(entry: CatalogEntryBase, item: DataItemIn) -> OpenType:
    """An item without its own opening type is opened as its entry is."""
    return item.opening_type or entry.opening.type


# -- compilation-guide completeness (Art. 9: entries follow the compilation guide) ------------


@reads()
def codes_known(entry: CatalogEntryBase, errors: Collector) -> None:
    """Every code is in its value list. The schemas check this on input; it is checked again
    because a stored entry may carry a code that a later edit of the lists retired."""
    v = vocab()
    checks: list[tuple[str, str | None, str]] = [
        ("category.resource_kind", entry.category.resource_kind, "resource_kinds"),
        ("format.format_class", entry.format.format_class, "format_classes"),
        ("format.format_type", entry.format.format_type, "format_types"),
        ("sharing.method_class", entry.sharing.method_class, "sharing_method_classes"),
        ("sharing.method_type", entry.sharing.method_type, "sharing_method_types"),
        ("update_cycle", entry.update_cycle, "update_cycles"),
    ]
    checks += [
        (f"items.{i}.data_type", it.data_type, "data_item_types")
        for i, it in enumerate(entry.items)
    ]
    for field, code, list_name in checks:
        if code is not None and code not in v.get(list_name):
            _add(errors, field, "not_in_list", value=code, list=v.get(list_name).zh)


@reads("category.resource_kind", "category.subject")
def subject_in_kind(entry: CatalogEntryBase, errors: Collector) -> None:
    """The 项 is one of its resource kind's 项 (the guide lists them per kind)."""
    kind = entry.category.resource_kind
    if kind in vocab().subjects and vocab().subject(kind, entry.category.subject) is None:
        _add(
            errors,
            "category.subject",
            "subject_not_in_kind",
            value=entry.category.subject,
            kind=kind,
        )


@reads("format.format_class", "format.format_type")
def format_type_in_class(entry: CatalogEntryBase, errors: Collector) -> None:
    """A format type belongs to the format class it is given with (xlsx is a spreadsheet)."""
    fmt = entry.format
    term = vocab().format_types.get(fmt.format_type)
    if term is not None and term.parent != fmt.format_class:
        _add(
            errors,
            "format.format_type",
            "format_type_not_in_class",
            value=fmt.format_type,
            format_class=fmt.format_class,
        )


@reads("provider.code")
def provider_code_valid(entry: CatalogEntryBase, errors: Collector) -> None:
    """The guide leaves the provider code scheme open; where a body uses its 18-character
    unified social credit code, the code must be a valid one (GB 32100)."""
    code = entry.provider.code
    if len(code) == 18 and not is_valid_uscc(code):
        _add(errors, "provider.code", "invalid_uscc", value=code)


@reads("items")
def items_present(entry: CatalogEntryBase, errors: Collector) -> None:
    """信息项信息 is core metadata: an entry describes at least one data item."""
    if not entry.items:
        _add(errors, "items", "items_required")


@reads("items.*.code")
def item_codes_unique(entry: CatalogEntryBase, errors: Collector) -> None:
    """Item codes identify fields within an entry (share grants name them): no two alike,
    ignoring case, since databases often fold it."""
    seen: dict[str, int] = {}
    for i, item in enumerate(entry.items):
        key = item.code.casefold()
        if key in seen:
            _add(errors, f"items.{i}.code", "duplicate_item_code", value=item.code, first=seen[key])
        else:
            seen[key] = i


@reads("items.*.data_type", "items.*.length")
def item_lengths(entry: CatalogEntryBase, errors: Collector) -> None:
    """Types whose length matters (character data, per ``data_item_types.yaml``) state it."""
    for i, item in enumerate(entry.items):
        term = vocab().data_item_types.get(item.data_type)
        if term is not None and term.attrs.get("length_required") and item.length is None:
            _add(errors, f"items.{i}.length", "length_required", data_type=item.data_type)


@reads("sharing.type", "sharing.method_class", "sharing.method_type")
def sharing_method_given(entry: CatalogEntryBase, errors: Collector) -> None:
    """A shared entry says how it is shared; through the platform, by which method type."""
    sharing = entry.sharing
    if sharing.type == "not_shared":
        return
    if sharing.method_class is None:
        _add(errors, "sharing.method_class", "sharing_method_required")
    elif sharing.method_class == "platform" and sharing.method_type is None:
        _add(errors, "sharing.method_type", "sharing_method_type_required")


@reads("opening.type", "opening.condition")
def opening_condition_given(entry: CatalogEntryBase, errors: Collector) -> None:
    """A conditionally open entry says on what condition (开放条件)."""
    if entry.opening.type == "conditional_open" and not entry.opening.condition:
        _add(errors, "opening.condition", "opening_condition_required")


@reads("related_resource_codes")
def related_codes_valid(entry: CatalogEntryBase, errors: Collector) -> None:
    """Related resource codes are listed once each, and never the entry's own code."""
    own = getattr(entry, "resource_code", None)
    seen: set[str] = set()
    for i, code in enumerate(entry.related_resource_codes):
        if code == own:
            _add(errors, f"related_resource_codes.{i}", "related_to_itself", value=code)
        elif code in seen:
            _add(errors, f"related_resource_codes.{i}", "duplicate_related_code", value=code)
        seen.add(code)


# -- Art. 12 (sharing) and its consequences for opening -----------------------------------


@reads("sharing.type", "sharing.condition", "sharing.legal_basis")
def sharing_reason_and_basis(entry: CatalogEntryBase, errors: Collector) -> None:
    """Art. 12: an entry listed as conditional or not shared states its reason and its basis."""
    sharing = entry.sharing
    if sharing.type in RESTRICTED_SHARING:
        if not sharing.condition:
            _add(errors, "sharing.condition", "sharing_reason_required", sharing_type=sharing.type)
        if not sharing.legal_basis:
            _add(errors, "sharing.legal_basis", "legal_basis_required", sharing_type=sharing.type)


@reads("sharing.type", "opening.type")
def not_shared_not_opened(entry: CatalogEntryBase, errors: Collector) -> None:
    """Art. 12/13: data that may not even go to other public bodies cannot go to society."""
    if entry.sharing.type == "not_shared" and entry.opening.type != "not_open":
        _add(errors, "opening.type", "not_shared_opened")


@reads("sharing.type", "opening.type")
def opening_not_wider_than_sharing(entry: CatalogEntryBase, errors: Collector) -> None:
    """Art. 12 ("sharing is the norm"): what anyone may take without conditions cannot be
    restricted between public bodies, so unconditionally open data is unconditionally shared."""
    if entry.opening.type == "open" and entry.sharing.type == "conditional":
        _add(errors, "opening.type", "opening_wider_than_sharing")


@reads("secrecy", "opening.type")
def classified_not_opened(entry: CatalogEntryBase, errors: Collector) -> None:
    """涉密 data is never opened to society (保守国家秘密法); the platform only catalogs it."""
    if entry.secrecy == "classified" and entry.opening.type != "not_open":
        _add(errors, "opening.type", "classified_opened")


@reads("sharing.type", "items.*.sharing_type")
def item_sharing_consistent(entry: CatalogEntryBase, errors: Collector) -> None:
    """Art. 12 defines the types by what is provided: an unconditional entry provides all of
    itself to all bodies, so none of its items is restricted (one that is makes the entry
    "partly provided", i.e. conditional); a not-shared entry provides none of its items. A
    conditional entry may hold items of any type."""
    entry_type = entry.sharing.type
    for i, item in enumerate(entry.items):
        if item.sharing_type is None:
            continue
        if entry_type == "unconditional" and item.sharing_type != "unconditional":
            _add(errors, f"items.{i}.sharing_type", "item_restricted_in_unconditional_entry")
        elif entry_type == "not_shared" and item.sharing_type != "not_shared":
            _add(errors, f"items.{i}.sharing_type", "item_shared_in_not_shared_entry")


@reads("sharing.type", "items.*.sharing_type", "items.*.sharing_condition", "items.*.legal_basis")
def item_reason_and_basis(entry: CatalogEntryBase, errors: Collector) -> None:
    """Art. 12 for a data item: an item more restricted than its entry states its own reason
    and basis. An item of its entry's type is covered by the entry's; an item already flagged
    as inconsistent with its entry is left to that error."""
    entry_type = entry.sharing.type
    if entry_type != "conditional":
        return  # other entries' restricted items are inconsistent (item_sharing_consistent)
    for i, item in enumerate(entry.items):
        if item.sharing_type in RESTRICTED_SHARING and item.sharing_type != entry_type:
            if not item.sharing_condition:
                _add(
                    errors,
                    f"items.{i}.sharing_condition",
                    "sharing_reason_required",
                    sharing_type=item.sharing_type,
                )
            if not item.legal_basis:
                _add(
                    errors,
                    f"items.{i}.legal_basis",
                    "legal_basis_required",
                    sharing_type=item.sharing_type,
                )


@reads("opening.type", "items.*.opening_type")
def item_opening_within_entry(entry: CatalogEntryBase, errors: Collector) -> None:
    """A data item is opened at most as widely as its entry."""
    limit = OPENING_RESTRICTION[entry.opening.type]
    for i, item in enumerate(entry.items):
        if item.opening_type is not None and OPENING_RESTRICTION[item.opening_type] < limit:
            _add(
                errors,
                f"items.{i}.opening_type",
                "item_more_open",
                entry_opening=entry.opening.type,
            )


@reads("sharing.type", "opening.type", "items.*.sharing_type", "items.*.opening_type")
def item_opening_within_sharing(entry: CatalogEntryBase, errors: Collector) -> None:
    """The entry-level opening rules, for an item that sets its own sharing or opening (an item
    that sets neither is covered by the entry's error, if any)."""
    for i, item in enumerate(entry.items):
        if item.sharing_type is None and item.opening_type is None:
            continue
        sharing = effective_item_sharing(entry, item)
        opening = effective_item_opening(entry, item)
        if sharing == "not_shared" and opening != "not_open":
            _add(errors, f"items.{i}.opening_type", "not_shared_opened")
        elif sharing == "conditional" and opening == "open":
            _add(errors, f"items.{i}.opening_type", "opening_wider_than_sharing")


#: Every rule, in the order their errors are reported (roughly: top of the form first).
RULES: tuple[Rule, ...] = (
    codes_known,
    subject_in_kind,
    provider_code_valid,
    format_type_in_class,
    items_present,
    item_codes_unique,
    item_lengths,
    sharing_reason_and_basis,
    sharing_method_given,
    not_shared_not_opened,
    opening_not_wider_than_sharing,
    classified_not_opened,
    opening_condition_given,
    related_codes_valid,
    item_sharing_consistent,
    item_reason_and_basis,
    item_opening_within_entry,
    item_opening_within_sharing,
)


def validate_entry(entry: CatalogEntryBase, *, unknown: Iterable[str] = ()) -> list[FieldError]:
    """Every rule broken by ``entry`` (empty when it is valid).

    ``unknown`` names fields whose real value could not be read (see :func:`reads`); rules
    that read them are skipped.
    """
    unknown = list(unknown)
    return [error for rule in RULES for error in _run(rule, entry, unknown)]


def check_items_against_elements(
    entry: CatalogEntryBase, elements: Mapping[UUID, DataElementCreate]
) -> list[FieldError]:
    """Art. 47: a data item that follows a data element keeps to its type and length.

    ``elements`` maps ids to the elements the service found for the entry's items; an id
    missing from it is reported as unknown.
    """
    errors = Collector()
    for i, item in enumerate(entry.items):
        if item.data_element_id is None:
            continue
        element = elements.get(item.data_element_id)
        path = f"items.{i}.data_element_id"
        if element is None:
            _add(errors, path, "unknown_data_element", value=str(item.data_element_id))
            continue
        if element.data_type != item.data_type:
            _add(
                errors,
                f"items.{i}.data_type",
                "element_type_mismatch",
                element=element.name,
                element_type=element.data_type,
                data_type=item.data_type,
            )
        if element.length is not None and item.length is not None and item.length > element.length:
            _add(
                errors,
                f"items.{i}.length",
                "element_length_exceeded",
                element=element.name,
                element_length=element.length,
            )
    return errors.errors


# -- raw input --------------------------------------------------------------------------------

_PYDANTIC_CODES: Mapping[str, str] = {
    "missing": "required",
    "string_too_long": "too_long",
    "too_long": "too_many",
    "string_pattern_mismatch": "invalid_format",
    "literal_error": "not_in_list",
    "enum": "not_in_list",
    "not_in_list": "not_in_list",
    "less_than": "too_large",
    "less_than_equal": "too_large",
    "int_parsing": "not_integer",
    "int_type": "not_integer",
    "int_from_float": "not_integer",
    "date_parsing": "invalid_date",
    "date_type": "invalid_date",
    "date_from_datetime_parsing": "invalid_date",
    "date_from_datetime_inexact": "invalid_date",
    "uuid_parsing": "invalid_uuid",
    "uuid_type": "invalid_uuid",
    "invalid_resource_code": "invalid_resource_code",
    "extra_forbidden": "unknown_field",
    "string_type": "not_text",
}


def _pydantic_code(err: Mapping[str, Any]) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "string_too_short":
        return "required" if ctx.get("min_length") == 1 else "too_short"
    if kind in ("greater_than", "greater_than_equal"):
        return "not_positive" if ctx.get("gt") == 0 else "too_small"
    return _PYDANTIC_CODES.get(kind, "invalid")


def errors_from_pydantic(exc: ValidationError, *, prefix: str = "") -> list[FieldError]:
    """Pydantic's errors as field errors with our codes and dotted paths."""
    out: list[FieldError] = []
    for err in exc.errors(include_url=False):
        path = ".".join(str(part) for part in err["loc"])
        if prefix:
            path = f"{prefix}.{path}" if path else prefix
        code = _pydantic_code(err)
        params: dict[str, Any] = {
            k: v for k, v in (err.get("ctx") or {}).items() if isinstance(v, str | int | float)
        }
        if isinstance(err.get("input"), str | int | float) and "value" not in params:
            params["value"] = err["input"]
        if code == "not_in_list" and "list" not in params:
            params["list"] = str(params.pop("expected", ""))
        params.setdefault("detail", err["msg"])
        out.append(FieldError(path, code, message(code, params), params=params))
    return out


#: Stand-ins for required fields that did not parse, so the other rules can still run; the
#: rules that read a stood-in field are skipped (:func:`reads`), so the values never matter.
_STAND_INS: Mapping[str, Any] = {
    "category": {"resource_kind": "base", "subject": "01", "group": "000"},
    "category.resource_kind": "base",
    "category.subject": "01",
    "category.group": "000",
    "name": "-",
    "summary": "-",
    "provider": {"name": "-", "code": "X"},
    "provider.name": "-",
    "provider.code": "X",
    "format": {"format_class": "other"},
    "format.format_class": "other",
    "sharing": {"type": "conditional"},
    "sharing.type": "conditional",
    "opening": {"type": "not_open"},
    "opening.type": "not_open",
    "update_cycle": "on_demand",
    "secrecy": "unclassified",
    "data_kind": "public",
    "items.*.name": "-",
    "items.*.code": "__unknown_{index}__",  # one per item: stand-ins must not clash
    "items.*.data_type": "M",
}


def _stand_in(data: Any, locs: Iterable[tuple[str | int, ...]]) -> Any:
    """A copy of ``data`` with a stand-in for each value at ``locs`` (optional values are
    dropped), or None where that cannot be done.

    A bad element of a list of values drops the whole list: removing the element would shift
    the positions later errors name.
    """
    out = copy.deepcopy(data)
    for loc in locs:
        if isinstance(loc[-1], int):
            loc = loc[:-1]
        parent = out
        for part in loc[:-1]:
            try:
                parent = parent[part]
            except (KeyError, IndexError, TypeError):
                return None
        if not (loc and isinstance(parent, dict) and isinstance(loc[-1], str)):
            return None
        generic = _generic(".".join(str(p) for p in loc))
        if generic in _STAND_INS:
            stand_in = copy.deepcopy(_STAND_INS[generic])
            if isinstance(stand_in, str) and len(loc) > 1:
                stand_in = stand_in.format(index=loc[1])
            parent[loc[-1]] = stand_in
        else:
            parent.pop(loc[-1], None)
    return out


def check_entry(data: Mapping[str, Any]) -> tuple[CatalogEntryCreate | None, list[FieldError]]:
    """Validate raw input: the entry and no errors, or None and every error found.

    Fields that do not parse are reported, and the rules still run on the rest: each bad
    field gets a stand-in and the rules that read it are skipped, so one wrong cell does not
    hide an Art. 12 problem elsewhere in the entry.
    """
    try:
        entry = CatalogEntryCreate.model_validate(data)
    except ValidationError as exc:
        field_errors = errors_from_pydantic(exc)
        locs = [tuple(err["loc"]) for err in exc.errors() if err["loc"]]
        repaired = _stand_in(dict(data), locs)
        if repaired is None:
            return None, field_errors
        try:
            partial = CatalogEntryCreate.model_validate(repaired)
        except ValidationError:
            return None, field_errors
        unknown = [e.field for e in field_errors]
        rule_errors = [
            e
            for e in validate_entry(partial, unknown=unknown)
            if not any(_related(e.field, f) for f in unknown)
        ]
        return None, field_errors + rule_errors
    errors = validate_entry(entry)
    return (None, errors) if errors else (entry, [])


def parse_entry(data: Mapping[str, Any]) -> CatalogEntryCreate:
    """Validate raw input or raise :class:`ValidationFailed` listing every error."""
    entry, errors = check_entry(data)
    if entry is None:
        raise ValidationFailed("The catalog entry is not valid.", errors=errors)
    return entry


def ensure_valid(entry: CatalogEntryBase) -> None:
    """Raise :class:`ValidationFailed` if ``entry`` breaks any rule (for services on save)."""
    errors = validate_entry(entry)
    if errors:
        raise ValidationFailed("The catalog entry is not valid.", errors=errors)


def error_codes() -> Iterable[str]:
    """Every error code that has a message (what the API may answer)."""
    return messages().keys()


__all__ = [
    "OPENING_RESTRICTION",
    "RESTRICTED_SHARING",
    "RULES",
    "SHARING_RESTRICTION",
    "check_entry",
    "check_items_against_elements",
    "effective_item_opening",
    "effective_item_sharing",
    "ensure_valid",
    "error_codes",
    "errors_from_pydantic",
    "localize",
    "message",
    "parse_entry",
    "validate_entry",
]

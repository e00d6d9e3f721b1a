"""A grade's reasons in the reader's language (Art. 10).

The grading module stores each reason with ``kind`` and ``params`` (``proposal.REASON_KINDS``)
beside its English ``text``; here they become a sentence from the ``grading_reason.<kind>``
messages: detectors by their names, levels and rules by their labels, shares as percentages
never rounded up (99.96 % reads 99.9 %), a rule pack's reason in the reader's language when the
pack has it. A reason stored before reasons had a kind, or of a kind without a message, reads
as its (English) text; a plain string (a grade recorded through the catalog API) as written.
Pages (``grading/_reasons.html``) and the audit log say reasons through this one function.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from gongshu.grading.schemes import level_label, rule_label, scheme_label


def _share(value: Any) -> str:
    """A share as a percentage with one decimal, rounded down."""
    percent = round(float(value or 0) * 100, 6)
    return f"{math.floor(percent * 10) / 10:.1f}%"


def _field(reason: Any, name: str) -> Any:
    return reason.get(name) if isinstance(reason, Mapping) else getattr(reason, name, None)


def reason_words(reason: Any, t: Callable[..., str]) -> str:
    """One reason as a sentence in the language of the translator ``t``: a stored reason (a
    mapping), a ``proposal.Reason``, or a string."""
    if isinstance(reason, str):
        return reason
    kind = _field(reason, "kind")
    has = getattr(t, "has", None)
    if not kind or has is None or not has(f"grading_reason.{kind}"):
        return str(_field(reason, "text") or "")
    locale = getattr(t, "locale", "zh-CN")
    english = locale == "en"
    p: Mapping[str, Any] = _field(reason, "params") or {}
    evidence = ""
    if p.get("detector"):
        evidence = t("grading_reason.evidence_hinted" if p.get("hinted")
                     else "grading_reason.evidence",
                     detector=t(f"detector.{p['detector']}"), ratio=_share(p.get("ratio")),
                     count=f"{p.get('count') or 0:,}", nonempty=f"{p.get('nonempty') or 0:,}")
    rule_reason = (p.get("rule_reason_en") if english and p.get("rule_reason_en")
                   else p.get("rule_reason")) or ""
    return t(f"grading_reason.{kind}", evidence=evidence,
             level=level_label(p.get("level") or _field(reason, "level"), locale),
             needed=_share(p.get("needed")), rule=p.get("rule") or _field(reason, "rule") or "",
             rule_reason=rule_reason, column=p.get("column") or "",
             classification=p.get("classification") or "",
             scheme=scheme_label(p.get("scheme"), locale),
             rules=("; " if english else "；").join(rule_label(r, locale)
                                                   for r in p.get("rules") or []),
             proposed=level_label(p.get("proposed") or "—", locale), note=p.get("note") or "")

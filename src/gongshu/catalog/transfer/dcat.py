"""DCAT-AP 3 export of published catalog entries (JSON-LD and Turtle), for other portals.

One ``dcat:Catalog`` holds one ``dcat:Dataset`` per entry. The mappings (all ours; the
EU-vocabulary codes live in the value-list files, not here):

=============================  ==============================================================
entry                          DCAT-AP
=============================  ==============================================================
resource code                  ``dct:identifier``; the dataset IRI is
                               ``{base}dataset/{front}-{seq}`` (the slash would split a path)
name, summary                  ``dct:title``, ``dct:description``, tagged ``@zh``
provider                       ``dct:publisher``: a ``foaf:Agent`` with ``foaf:name`` and the
                               provider code as ``dct:identifier``
keywords                       ``dcat:keyword`` ``@zh``
update cycle                   ``dct:accrualPeriodicity``: the EU frequency named by
                               ``eu_frequency`` in ``update_cycles.yaml`` (none for 按需)
opening (Art. 13)              ``dct:accessRights``: EU access-right PUBLIC (open),
                               RESTRICTED (conditional_open) or NON_PUBLIC (not_open)
sharing (Art. 12)              ``dct:rights``: a ``dct:RightsStatement`` whose ``dct:type`` is
                               the sharing type concept and whose label states the condition
                               and the legal basis (DCAT-AP has no property for sharing
                               between public bodies)
classification                 ``dcat:theme``: our 资源属性 and 项 concepts (SKOS, in the
                               catalog's ``dcat:themeTaxonomy``) and the EU data theme named
                               by ``eu_theme`` in ``resource_kinds.yaml``
publish date, last change      ``dct:issued`` (xsd:date), ``dct:modified`` (xsd:dateTime)
version                        ``dcat:version``
related resource codes         ``dct:relation`` to the related datasets' IRIs
format type (where known)      a ``dcat:Distribution`` with ``dct:format`` (EU file type) and
                               ``dcat:mediaType`` (IANA), from ``format_types.yaml``; formats
                               with neither (databases, interfaces) get no distribution
=============================  ==============================================================

Classified (涉密) entries are left out unless asked for: their existence may itself be secret,
and an export goes to systems outside the platform. Data items are not described (DCAT-AP has
no place for columns).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, RDFS, SKOS, XSD

from gongshu.catalog.codes import parse_code
from gongshu.catalog.schemas import CatalogEntryBase
from gongshu.catalog.vocab import vocab

EU_FREQUENCY = Namespace("http://publications.europa.eu/resource/authority/frequency/")
EU_ACCESS_RIGHT = Namespace("http://publications.europa.eu/resource/authority/access-right/")
EU_FILE_TYPE = Namespace("http://publications.europa.eu/resource/authority/file-type/")
EU_DATA_THEME = Namespace("http://publications.europa.eu/resource/authority/data-theme/")
EU_LANGUAGE = Namespace("http://publications.europa.eu/resource/authority/language/")
IANA_MEDIA_TYPES = "http://www.iana.org/assignments/media-types/"
# DCAT 3 terms rdflib's closed DCAT namespace does not know yet
DCAT_VERSION = URIRef(f"{DCAT}version")

#: Opening type → EU access-right concept (Art. 13).
ACCESS_RIGHTS = {"open": "PUBLIC", "conditional_open": "RESTRICTED", "not_open": "NON_PUBLIC"}

DEFAULT_TITLE = "山西省公共数据目录"
DEFAULT_DESCRIPTION = "山西省公共管理和服务机构依照《山西省数据工作管理办法》编制的公共数据目录。"
DEFAULT_PUBLISHER = "山西省数据管理部门"

_CONTEXT = {
    "dcat": str(DCAT),
    "dct": str(DCTERMS),
    "foaf": str(FOAF),
    "skos": str(SKOS),
    "rdfs": str(RDFS),
    "xsd": str(XSD),
}


def dataset_iri(base_uri: str, resource_code: str) -> URIRef:
    """The IRI of an entry's dataset; stable because the resource code is."""
    code = parse_code(resource_code)
    return URIRef(f"{_base(base_uri)}dataset/{code.front}-{code.seq:06d}")


def _base(base_uri: str) -> str:
    return base_uri if base_uri.endswith(("/", "#")) else base_uri + "/"


class _Builder:
    """Adds one catalog's triples to a graph; one instance per export."""

    def __init__(self, graph: Graph, base_uri: str, page_url: str | None) -> None:
        self.g = graph
        self.base = _base(base_uri)
        self.page_url = page_url
        self.taxonomy = URIRef(f"{self.base}vocab/category")
        self._concepts: set[URIRef] = set()

    def zh(self, text: str) -> Literal:
        return Literal(text, lang="zh")

    def concept(
        self, iri: URIRef, zh: str, en: str, scheme: URIRef, broader: URIRef | None = None
    ) -> URIRef:
        """A SKOS concept of one of our schemes, described once however often it is used."""
        if iri not in self._concepts:
            self._concepts.add(iri)
            self.g.add((iri, RDF.type, SKOS.Concept))
            self.g.add((iri, SKOS.prefLabel, self.zh(zh)))
            self.g.add((iri, SKOS.prefLabel, Literal(en, lang="en")))
            self.g.add((iri, SKOS.inScheme, scheme))
            if broader is not None:
                self.g.add((iri, SKOS.broader, broader))
        return iri

    def agent(self, key: str, name: str, code: str | None = None) -> URIRef:
        iri = URIRef(f"{self.base}org/{key}")
        self.g.add((iri, RDF.type, FOAF.Agent))
        self.g.add((iri, FOAF.name, self.zh(name)))
        if code:
            self.g.add((iri, DCTERMS.identifier, Literal(code)))
        return iri

    def themes(self, dataset: URIRef, entry: CatalogEntryBase) -> None:
        v = vocab()
        kind = v.resource_kinds.get(entry.category.resource_kind)
        if kind is None:
            return
        kind_iri = self.concept(
            URIRef(f"{self.taxonomy}/{kind.code}"), kind.zh, kind.en, self.taxonomy
        )
        self.g.add((dataset, DCAT.theme, kind_iri))
        subject = v.subject(kind.code, entry.category.subject)
        if subject is not None:
            iri = URIRef(f"{self.taxonomy}/{kind.code}/{subject.code}")
            self.g.add(
                (
                    dataset,
                    DCAT.theme,
                    self.concept(iri, subject.zh, subject.en, self.taxonomy, kind_iri),
                )
            )
            if subject.attrs.get("eu_theme"):
                self.g.add((dataset, DCAT.theme, EU_DATA_THEME[subject.attrs["eu_theme"]]))

    def sharing(self, dataset: URIRef, entry: CatalogEntryBase) -> None:
        v = vocab()
        sharing = entry.sharing
        scheme = URIRef(f"{self.base}vocab/sharing-type")
        term = v.sharing_types.get(sharing.type)
        statement = BNode()
        self.g.add((dataset, DCTERMS.rights, statement))
        self.g.add((statement, RDF.type, DCTERMS.RightsStatement))
        if term is not None:
            concept = self.concept(URIRef(f"{scheme}/{term.code}"), term.zh, term.en, scheme)
            self.g.add((statement, DCTERMS.type, concept))
        parts = [v.sharing_types.label(sharing.type)]
        if sharing.condition:
            parts.append(f"条件或理由：{sharing.condition}")
        if sharing.legal_basis:
            parts.append(f"依据：{sharing.legal_basis}")
        self.g.add((statement, RDFS.label, self.zh("；".join(parts))))

    def distribution(self, dataset: URIRef, entry: CatalogEntryBase, access_url: URIRef) -> None:
        term = vocab().format_types.get(entry.format.format_type)
        if term is None:
            return
        file_type, media_type = term.attrs.get("eu_file_type"), term.attrs.get("media_type")
        if not (file_type or media_type):
            return
        iri = URIRef(f"{dataset}/distribution/{term.code}")
        self.g.add((dataset, DCAT.distribution, iri))
        self.g.add((iri, RDF.type, DCAT.Distribution))
        self.g.add((iri, DCTERMS.title, self.zh(f"{entry.name}（{term.zh}）")))
        self.g.add((iri, DCAT.accessURL, access_url))
        if file_type:
            self.g.add((iri, DCTERMS.format, EU_FILE_TYPE[file_type]))
        if media_type:
            self.g.add((iri, DCAT.mediaType, URIRef(IANA_MEDIA_TYPES + media_type)))

    def dataset(self, catalog: URIRef, entry: CatalogEntryBase) -> None:
        code = getattr(entry, "resource_code", None)
        if not code:
            raise ValueError(f"entry {entry.name!r} has no resource code; export published entries")
        g, v = self.g, vocab()
        ds = dataset_iri(self.base, code)
        g.add((catalog, DCAT.dataset, ds))
        g.add((ds, RDF.type, DCAT.Dataset))
        g.add((ds, DCTERMS.identifier, Literal(code)))
        g.add((ds, DCTERMS.title, self.zh(entry.name)))
        g.add((ds, DCTERMS.description, self.zh(entry.summary)))
        g.add((ds, DCTERMS.language, EU_LANGUAGE.ZHO))
        provider = entry.provider
        g.add(
            (
                ds,
                DCTERMS.publisher,
                self.agent(str(provider.org_id or provider.code), provider.name, provider.code),
            )
        )
        for keyword in entry.keywords:
            g.add((ds, DCAT.keyword, self.zh(keyword)))
        cycle = v.update_cycles.get(entry.update_cycle)
        if cycle is not None and cycle.attrs.get("eu_frequency"):
            g.add((ds, DCTERMS.accrualPeriodicity, EU_FREQUENCY[cycle.attrs["eu_frequency"]]))
        g.add((ds, DCTERMS.accessRights, EU_ACCESS_RIGHT[ACCESS_RIGHTS[entry.opening.type]]))
        self.sharing(ds, entry)
        self.themes(ds, entry)
        if entry.publish_date is not None:
            g.add((ds, DCTERMS.issued, Literal(entry.publish_date.isoformat(), datatype=XSD.date)))
        updated = getattr(entry, "updated_at", None)
        if isinstance(updated, dt.datetime):
            g.add((ds, DCTERMS.modified, Literal(updated.isoformat(), datatype=XSD.dateTime)))
        version = getattr(entry, "version", None)
        if version is not None:
            g.add((ds, DCAT_VERSION, Literal(str(version))))
        for related in entry.related_resource_codes:
            g.add((ds, DCTERMS.relation, dataset_iri(self.base, related)))
        page = URIRef(self.page_url.format(code=code)) if self.page_url else ds
        if self.page_url:
            g.add((ds, DCAT.landingPage, page))
        self.distribution(ds, entry, page)


def build_graph(
    entries: Iterable[CatalogEntryBase],
    *,
    base_uri: str,
    title: str = DEFAULT_TITLE,
    description: str = DEFAULT_DESCRIPTION,
    publisher: str = DEFAULT_PUBLISHER,
    page_url: str | None = None,
    include_classified: bool = False,
) -> Graph:
    """The catalog as an RDF graph.

    ``entries`` are published versions (each with a ``resource_code``: ``CatalogEntryPublic``).
    ``base_uri`` roots every IRI we mint (datasets, agents, our concepts); ``page_url`` is the
    entry's web page with ``{code}`` for its resource code, used as landing page and access
    URL (without it the dataset IRI is the access URL).
    """
    graph = Graph()
    for prefix, namespace in _CONTEXT.items():
        graph.bind(prefix, namespace)
    builder = _Builder(graph, base_uri, page_url)
    catalog = URIRef(f"{builder.base}catalog")
    graph.add((catalog, RDF.type, DCAT.Catalog))
    graph.add((catalog, DCTERMS.title, builder.zh(title)))
    graph.add((catalog, DCTERMS.description, builder.zh(description)))
    graph.add((catalog, DCTERMS.publisher, builder.agent("catalog-publisher", publisher)))
    graph.add((catalog, DCTERMS.language, EU_LANGUAGE.ZHO))
    graph.add((catalog, DCAT.themeTaxonomy, builder.taxonomy))
    graph.add((builder.taxonomy, RDF.type, SKOS.ConceptScheme))
    graph.add((builder.taxonomy, SKOS.prefLabel, builder.zh("信息资源分类")))
    for entry in entries:
        if entry.secrecy == "classified" and not include_classified:
            continue
        builder.dataset(catalog, entry)
    return graph


def to_turtle(entries: Iterable[CatalogEntryBase], **options: Any) -> str:
    """The catalog in Turtle. ``options`` are those of :func:`build_graph`."""
    return build_graph(entries, **options).serialize(format="turtle")


def to_jsonld(entries: Iterable[CatalogEntryBase], **options: Any) -> str:
    """The catalog in JSON-LD, compacted with the usual prefixes."""
    return build_graph(entries, **options).serialize(format="json-ld", context=_CONTEXT, indent=2)


__all__ = [
    "ACCESS_RIGHTS",
    "build_graph",
    "dataset_iri",
    "to_jsonld",
    "to_turtle",
]

"""DCAT-AP 3 export: parse the output back with rdflib and ask it questions."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rdflib import Graph, URIRef

from gongshu.catalog.transfer.dcat import build_graph, dataset_iri, to_jsonld, to_turtle

# rdflib's own JSON-LD parser still builds a ConjunctiveGraph inside; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")

BASE = "https://data.shanxi.example/"
PREFIXES = """
PREFIX dcat: <http://www.w3.org/ns/dcat#>
PREFIX dct: <http://purl.org/dc/terms/>
PREFIX foaf: <http://xmlns.com/foaf/0.1/>
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
"""
EU = "http://publications.europa.eu/resource/authority/"


@pytest.fixture(params=["turtle", "json-ld"])
def graph(request: pytest.FixtureRequest, public_entries: list[Any]) -> Graph:
    """The export, written and read back in each format."""
    if request.param == "turtle":
        text = to_turtle(public_entries, base_uri=BASE)
    else:
        text = to_jsonld(public_entries, base_uri=BASE)
        assert "@context" in json.loads(text)
    return Graph().parse(data=text, format=request.param)


def _rows(graph: Graph, query: str) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in graph.query(PREFIXES + query)]


def _one(graph: Graph, query: str) -> Any:
    (row,) = _rows(graph, query)
    return row[0] if len(row) == 1 else row


def test_catalog_holds_one_dataset_per_entry(graph: Graph, public_entries: list[Any]) -> None:
    rows = _rows(
        graph,
        "SELECT ?id WHERE { ?c a dcat:Catalog ; dcat:dataset ?d . ?d a dcat:Dataset ; dct:identifier ?id }",
    )
    assert sorted(str(r[0]) for r in rows) == sorted(e.resource_code for e in public_entries)
    title = _one(graph, "SELECT ?t WHERE { ?c a dcat:Catalog ; dct:title ?t }")
    assert title.language == "zh"


def test_dataset_metadata(graph: Graph, public_entries: list[Any]) -> None:
    entry = public_entries[1]  # the conditional theme entry
    ds = dataset_iri(BASE, entry.resource_code)
    title, description = _one(
        graph, f"SELECT ?t ?d WHERE {{ <{ds}> dct:title ?t ; dct:description ?d }}"
    )
    assert (str(title), title.language) == (entry.name, "zh")
    assert str(description) == entry.summary
    name, code = _one(
        graph,
        f"""SELECT ?n ?c WHERE {{
        <{ds}> dct:publisher ?p . ?p a foaf:Agent ; foaf:name ?n ; dct:identifier ?c }}""",
    )
    assert (str(name), str(code)) == (entry.provider.name, entry.provider.code)
    keywords = {str(r[0]) for r in _rows(graph, f"SELECT ?k WHERE {{ <{ds}> dcat:keyword ?k }}")}
    assert keywords == {"社保", "养老保险"}
    assert _one(graph, f"SELECT ?f WHERE {{ <{ds}> dct:accrualPeriodicity ?f }}") == URIRef(
        EU + "frequency/MONTHLY"
    )
    assert _one(graph, f"SELECT ?a WHERE {{ <{ds}> dct:accessRights ?a }}") == URIRef(
        EU + "access-right/RESTRICTED"
    )
    assert str(_one(graph, f"SELECT ?d WHERE {{ <{ds}> dct:issued ?d }}")) == "2024-07-01"
    related = _one(graph, f"SELECT ?r WHERE {{ <{ds}> dct:relation ?r }}")
    assert related == dataset_iri(BASE, "101001/000001")


def test_sharing_is_a_rights_statement(graph: Graph, public_entries: list[Any]) -> None:
    ds = dataset_iri(BASE, public_entries[1].resource_code)
    kind, label = _one(
        graph,
        f"""SELECT ?k ?l WHERE {{
        <{ds}> dct:rights ?r . ?r a dct:RightsStatement ; dct:type ?t ; rdfs:label ?l .
        ?t skos:prefLabel ?k FILTER(lang(?k) = "zh") }}""",
    )
    assert str(kind) == "有条件共享"
    assert "《社会保险法》第八十一条" in str(label)


def test_themes_from_the_classification(graph: Graph, public_entries: list[Any]) -> None:
    ds = dataset_iri(BASE, public_entries[1].resource_code)
    themes = {str(r[0]) for r in _rows(graph, f"SELECT ?t WHERE {{ <{ds}> dcat:theme ?t }}")}
    assert themes == {
        f"{BASE}vocab/category/theme",
        f"{BASE}vocab/category/theme/03",
        EU + "data-theme/SOCI",
    }
    label = _one(
        graph,
        f"""SELECT ?l WHERE {{ <{BASE}vocab/category/theme/03> skos:prefLabel ?l ;
        skos:broader <{BASE}vocab/category/theme> FILTER(lang(?l) = "zh") }}""",
    )
    assert str(label) == "社会保障"


def test_distributions_only_where_the_format_is_known(
    graph: Graph, public_entries: list[Any]
) -> None:
    rows = _rows(
        graph,
        "SELECT ?d ?f ?m ?u WHERE { ?d dcat:distribution ?x . ?x a dcat:Distribution ; dct:format ?f ; dcat:mediaType ?m ; dcat:accessURL ?u }",
    )
    # entry 1 is a 达梦 database, entry 3 has no format type: only the xlsx entry has one
    assert len(rows) == 1
    ds, file_type, media, url = rows[0]
    assert ds == dataset_iri(BASE, public_entries[1].resource_code)
    assert file_type == URIRef(EU + "file-type/XLSX")
    assert str(media).endswith("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    assert url == ds


def test_landing_pages(public_entries: list[Any]) -> None:
    graph = build_graph(
        public_entries, base_uri=BASE, page_url="https://portal.example/catalog/{code}"
    )
    pages = {str(o) for o in graph.objects(None, URIRef("http://www.w3.org/ns/dcat#landingPage"))}
    assert f"https://portal.example/catalog/{public_entries[0].resource_code}" in pages


def test_classified_entries_are_left_out(public_entries: list[Any]) -> None:
    secret = public_entries[2].model_copy(update={"secrecy": "classified"})
    entries = [*public_entries[:2], secret]
    ids = {
        str(o)
        for o in build_graph(entries, base_uri=BASE).objects(
            None, URIRef("http://purl.org/dc/terms/identifier")
        )
    }
    assert secret.resource_code not in ids
    with_secret = build_graph(entries, base_uri=BASE, include_classified=True)
    assert (dataset_iri(BASE, secret.resource_code), None, None) in with_secret


def test_entries_need_a_resource_code(sample_entries: list[Any]) -> None:
    with pytest.raises(ValueError, match="resource code"):
        build_graph(sample_entries, base_uri=BASE)

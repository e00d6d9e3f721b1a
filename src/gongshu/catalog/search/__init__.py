"""Catalog search (Art. 12: sharing starts with finding): the terms both sides are made of
(``text``: jieba, a domain dictionary, synonyms) and the index with its queries on SQLite (FTS5)
and PostgreSQL (weighted tsvector), visibility applied through ``catalog.access`` (``service``).
"""

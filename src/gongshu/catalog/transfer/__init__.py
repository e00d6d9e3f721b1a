"""Catalog import and export (Art. 9): the Excel template and its CSV twin, all or nothing, with
every error named (``xlsx``); DCAT-AP 3 in JSON-LD and Turtle for published entries (``dcat``).
"""

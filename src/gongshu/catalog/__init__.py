"""The unified public data catalog (Arts. 3, 9, 11, 12, 47).

Pure modules, no database or web here:

- ``vocab``   the value lists of the compilation guide, as data with their sources
- ``schemas`` the API shapes of catalog entries, data items and data elements
- ``rules``   the compilation-guide and Art. 12 rules, returning every problem at once
- ``codes``   resource codes (前段码/后段码)
- ``xlsx``    the Excel template, import and export (and CSV export)
- ``dcat``    DCAT-AP 3 export (JSON-LD, Turtle)
- ``text``    Chinese segmentation for the search index

Import the submodule you need; this package imports nothing heavy on its own.
"""

"""gongshu (公数): the provincial public data platform."""

__version__ = "0.1.0"

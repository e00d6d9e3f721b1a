"""Authorised operation (Art. 14): authorisations, the operators' sandbox, output review, data
products and their revenue. "Raw data stays in; usable but not visible."
"""

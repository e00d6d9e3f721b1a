"""Opening to society (Art. 13): the open-data portal, developers and their API keys,
conditional-opening applications, and download statistics."""

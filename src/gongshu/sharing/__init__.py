"""Sharing between public bodies (Art. 12): scenarios, share requests, grants, delivery."""

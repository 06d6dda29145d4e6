"""Helpers shared by the unit, page and browser tests (the fixtures themselves are in conftest.py)."""

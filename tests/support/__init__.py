"""Helpers shared by callstream's tests (importable as ``support``; see pyproject's pythonpath)."""

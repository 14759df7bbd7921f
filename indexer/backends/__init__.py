"""Retrieval backends: candidate generation and pool scoring behind one contract (base.py)."""

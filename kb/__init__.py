"""Zhiku knowledge model: categories, packages, tables, fields, and their rules.

Never imports fastapi or anything from ``api/``; HTTP lives at the edge.
"""

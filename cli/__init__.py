"""The ``kb`` command line: one module per group of verbs, registered in ``cli.main``."""

"""The HTTP side of Zhiku: the only package that knows FastAPI. Start with ``api.app.create_app``."""

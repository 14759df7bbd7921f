"""The API documentation at /docs: Swagger UI from the ``swagger-ui-bundle-v2`` package's files.

FastAPI's default page loads Swagger UI from a public CDN and starts it with an inline script;
the product must work offline, and the Content-Security-Policy (api/headers.py) allows
neither. Here the assets are served from /docs/assets and started by api/static/docs.js.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from api.html import templates

ASSETS = "/docs/assets"

router = APIRouter(include_in_schema=False)


@router.get("/docs", summary="API documentation (Swagger UI)", response_class=HTMLResponse)
def docs_page(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(
        request, "docs.html", {"assets": ASSETS, "spec": request.app.openapi_url}
    )


def install(app: FastAPI) -> None:
    """Add the page and its assets to ``app``."""
    app.include_router(router)
    app.mount(ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

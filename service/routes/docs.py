"""/docs: Swagger UI from the `swagger-ui-bundle-v2` package (module `swagger_ui_bundle`), served offline.

FastAPI's own /docs loads Swagger UI (and /redoc ReDoc and Google Fonts) from public CDNs, and sends no
Content-Security-Policy: an offline intranet got a blank page. Here the app is created without them
(`docs_url=None, redoc_url=None`) and `install_api_docs` serves the page with its script, stylesheet
and icon under /docs/assets/, and a policy that allows nothing but this origin: scripts from it plus
the one inline script that starts Swagger UI, named by its hash (its text is fixed when the app is
created, so the hash is computed once).
"""
from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from starlette.exceptions import HTTPException
from swagger_ui_bundle import swagger_ui_path

DOCS_PATH = "/docs"
ASSETS_PATH = "/docs/assets"
ASSETS_DIR = Path(swagger_ui_path)
# only what the page loads; the bundle folder also holds a demo index.html pointing at petstore.swagger.io
ASSET_TYPES = {"swagger-ui-bundle.js": "application/javascript; charset=utf-8",
               "swagger-ui.css": "text/css; charset=utf-8",
               "favicon-32x32.png": "image/png"}
# Swagger UI would otherwise show a badge image fetched from validator.swagger.io
SWAGGER_UI_PARAMETERS = {"validatorUrl": None}
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


def _script_hashes(page: str) -> str:
    digests = (hashlib.sha256(script.encode("utf-8")).digest() for script in _INLINE_SCRIPT.findall(page))
    return " ".join(f"'sha256-{base64.b64encode(d).decode()}'" for d in digests)


def docs_policy(page: str) -> str:
    # img-src data: because Swagger UI's stylesheet draws its icons as data: SVGs (checked in Chromium:
    # nothing else of the page, "Try it out" included, needs more than 'self')
    return (f"default-src 'self'; script-src 'self' {_script_hashes(page)}; style-src 'self'; "
            "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
            "form-action 'self'; frame-ancestors 'self'")


def install_api_docs(app: FastAPI) -> None:
    """Add GET /docs and /docs/assets/{name} to `app` (created with docs_url=None, redoc_url=None)."""
    page = get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} - API",
                               swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
                               swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
                               swagger_favicon_url=f"{ASSETS_PATH}/favicon-32x32.png",
                               swagger_ui_parameters=SWAGGER_UI_PARAMETERS).body.decode("utf-8")
    headers = {"Content-Security-Policy": docs_policy(page), "X-Content-Type-Options": "nosniff",
               "Referrer-Policy": "same-origin", "Cache-Control": "no-cache"}

    @app.get(DOCS_PATH, include_in_schema=False)
    def api_docs() -> HTMLResponse:
        return HTMLResponse(page, headers=headers)

    @app.get(ASSETS_PATH + "/{name}", include_in_schema=False)
    def api_docs_asset(name: str) -> FileResponse:
        if name not in ASSET_TYPES:
            raise HTTPException(404, f"no asset {name!r}")
        return FileResponse(ASSETS_DIR / name, media_type=ASSET_TYPES[name],
                            headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})

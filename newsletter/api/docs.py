"""The API's readable description at /api/v1/docs: a page of our own, rendered on the server
from the same OpenAPI document as /api/v1/openapi.json, so it needs no script from elsewhere
and passes the Content-Security-Policy every page gets."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, render_template

from .base import PREFIX, Api

#: The HTTP methods of an OpenAPI path item, in the order the page lists them.
_METHODS = ("get", "post", "put", "delete")


def operations(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Every operation of ``spec``: method, path, summary, parameters, body and answers."""
    listed = []
    for path, item in spec.get("paths", {}).items():
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            listed.append({
                "method": method.upper(),
                "path": PREFIX + path if not path.startswith(PREFIX) else path,
                "summary": operation.get("summary", ""),
                "description": operation.get("description", ""),
                "tag": (operation.get("tags") or [""])[0],
                "secured": bool(operation.get("security")),
                "parameters": [*item.get("parameters", []), *operation.get("parameters", [])],
                "body": _schema_name(body.get("schema")),
                "responses": {
                    code: _schema_name(answer.get("content", {}).get("application/json", {}).get("schema"))
                    for code, answer in operation.get("responses", {}).items()
                },
            })
    return listed


def _schema_name(schema: dict[str, Any] | None) -> str | None:
    if not schema:
        return None
    return schema.get("$ref", "").rpartition("/")[2] or schema.get("type")


def init_app(app: Flask, api: Api) -> None:
    bp = Blueprint("api_docs", __name__)

    @bp.get(f"{PREFIX}/docs")
    def docs():
        spec = api.spec.to_dict()
        return render_template(
            "api/docs.html", operations=operations(spec), schemas=spec.get("components", {}).get("schemas", {})
        )

    app.register_blueprint(bp)

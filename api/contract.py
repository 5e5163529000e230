"""The OpenAPI document says exactly what the server does.

FastAPI's own document declares every 422 as its `HTTPValidationError` and no other error;
pixseek answers every error with `{"error", "detail"}` (api/errors.py) and with more
statuses than that. `install_contract` rewrites the generated document once: every error
status an operation can answer is declared with the one error body (`ErrorBody`), the
validation schemas FastAPI adds are dropped, and the bounds that come from settings (page
sizes, query parts, text lengths) are written into the request schemas, so a request the
schema allows is one the server accepts. Route-specific errors are declared on the route
with `errors(...)`; the ones every route shares are added here, from what the route is:

- every operation: 500 (an unexpected error) and 503 (the database restarting);
- with a key (`security`): 401, 403 and 429;
- with parameters or a body: 422 (validation);
- with a body: 400 (a body that cannot be parsed) and 413 (over the size limit);
- with a path parameter: 404 (nothing has that id);
- POST: 507 (the disk filled while writing).

`tests/api/test_contract.py` runs schemathesis with every check against a live server.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from pixseek.api.schemas.errors import ErrorBody
from pixseek.api.schemas.search import MultipartSearchRequest
from pixseek.core.settings import Settings

ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}

DESCRIPTIONS = {
    304: "Not modified (If-None-Match).",
    400: "The request cannot be read (a body that is not what its content type says), or is "
    "inconsistent in a way a schema cannot say.",
    401: "No API key, or an unknown or revoked one.",
    403: "The key's scope does not cover this route (or the bucket is outside the ingest allow-list).",
    404: "Nothing has that id.",
    409: "The state does not allow it now (no index yet, a finished job, another model).",
    413: "The body is over the size limit.",
    415: "The upload is not an image pixseek can read.",
    416: "The `Range` asked for starts past the end of the file.",
    422: "The request does not match its schema.",
    429: "Too many requests: try again after `Retry-After` seconds.",
    500: "An unexpected error; the server log has it under the `x-request-id` given.",
    503: "A service is unavailable (the database restarting, the broker): try again later.",
    507: "The server's disk is full.",
}

HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "`Bearer`.", "schema": {"type": "string"}}},
    429: {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}},
    503: {"Retry-After": {"description": "Seconds to wait, when known.", "schema": {"type": "integer"}}},
}

VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route that can also answer these error statuses."""
    return {status: {"model": ErrorBody, "description": DESCRIPTIONS[status]} for status in statuses}


def _error_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": DESCRIPTIONS[status],
        "content": {"application/json": {"schema": ERROR_REF}},
    }
    if status in HEADERS:
        response["headers"] = HEADERS[status]
    return response


def shared_statuses(method: str, operation: dict[str, Any]) -> set[int]:
    """The error statuses every operation of this shape can answer."""
    statuses = {500, 503}
    if operation.get("security"):
        statuses |= {401, 403, 429}
    params = operation.get("parameters", [])
    if params or "requestBody" in operation:
        statuses.add(422)
    if "requestBody" in operation:
        statuses |= {400, 413}
    if any(p.get("in") == "path" for p in params):
        statuses.add(404)
    if method == "post":
        statuses.add(507)
    return statuses


def rewrite(schema: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Declare every error with `ErrorBody` and write the settings' bounds into the request bodies."""
    for path_item in schema.get("paths", {}).values():
        for method, operation in path_item.items():
            responses = operation.setdefault("responses", {})
            declared = {int(code) for code in responses if code.isdigit() and int(code) >= 400}
            for status in sorted(declared | shared_statuses(method, operation)):
                description = responses.get(str(status), {}).get("description")
                responses[str(status)] = _error_response(status)
                if description and status not in (422,) and description != DESCRIPTIONS.get(status):
                    responses[str(status)]["description"] = description
            if "304" in responses:
                responses["304"].pop("content", None)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name in VALIDATION_SCHEMAS:
        components.pop(name, None)
    components["ErrorBody"] = ErrorBody.model_json_schema()
    _plain_form_fields(components, schema.get("paths", {}))
    _multipart_search(schema, components)
    _bounds(components, schema.get("paths", {}), settings)
    return schema


def _bounds(components: dict[str, Any], paths: dict[str, Any], settings: Settings) -> None:
    """The limits `SearchService` and the region search check, as schema bounds."""
    for body in ("SearchRequest", "MultipartSearchRequest"):
        _search_bounds(components.get(body, {}).get("properties", {}), settings)
    for name, field in (
        ("QueryPartIn", "text"),
        ("UploadPartIn", "text"),
        ("RegionSearchRequest", "text"),
        ("TextSearchRequest", "text"),
    ):
        props = components.get(name, {}).get("properties", {})
        if field in props:
            target = props[field]["anyOf"][0] if "anyOf" in props[field] else props[field]
            target.update(maxLength=settings.max_text_chars, pattern=r"\S")
    for name, field in (("RegionSearchRequest", "k"), ("TextSearchRequest", "k")):
        props = components.get(name, {}).get("properties", {})
        if field in props:
            props[field]["maximum"] = settings.max_results
    if "TextSearchRequest" in components:
        components["TextSearchRequest"]["properties"]["offset"]["maximum"] = settings.max_offset
    limits = {"k": settings.max_results, "offset": settings.max_offset}
    for path_item in paths.values():
        for operation in path_item.values():
            if not {"search", "regions"} & set(operation.get("tags", [])):
                continue  # the search services' bounds
            for param in operation.get("parameters", []):
                if (
                    param.get("in") == "query"
                    and param["name"] in limits
                    and "maximum" not in param["schema"]
                ):
                    param["schema"]["maximum"] = limits[param["name"]]
            form = operation.get("requestBody", {}).get("content", {}).get("multipart/form-data", {})
            ref = form.get("schema", {}).get("$ref", "")
            props = components.get(ref.rsplit("/", 1)[-1], {}).get("properties", {})
            for name, limit in limits.items():
                if name in props and "maximum" not in props[name]:
                    props[name]["maximum"] = limit


def _multipart_search(schema: dict[str, Any], components: dict[str, Any]) -> None:
    """The multipart search's `query` field is a `MultipartSearchRequest` sent as JSON, and its
    `images` field a list of files (FastAPI declares a string and a nullable list)."""
    operation = schema["paths"].get("/v1/search/multipart", {}).get("post")
    if operation is None:
        return
    form = operation["requestBody"]["content"]["multipart/form-data"]
    body = components[form["schema"]["$ref"].rsplit("/", 1)[-1]]
    body["properties"]["query"] = {
        "$ref": "#/components/schemas/MultipartSearchRequest",
        "description": body["properties"]["query"].get("description", ""),
    }
    body["properties"]["images"] = {
        "type": "array",
        "items": {"type": "string", "format": "binary"},
        "description": "Images the query's `upload` parts refer to.",
    }
    form["encoding"] = {"query": {"contentType": "application/json"}}
    components["MultipartSearchRequest"] = MultipartSearchRequest.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )
    for name, definition in components["MultipartSearchRequest"].pop("$defs", {}).items():
        components.setdefault(name, definition)


def _search_bounds(search: dict[str, Any], settings: Settings) -> None:
    if not search:
        return
    search["limit"]["maximum"] = settings.max_results
    search["offset"]["maximum"] = settings.max_offset
    search["parts"]["maxItems"] = settings.max_query_parts
    templates = search["templates"]["anyOf"][0]
    templates["maxItems"] = settings.max_prompt_templates
    templates["items"].update(maxLength=settings.max_template_chars, pattern=r"^[^{}]*\{\}[^{}]*$")


def _plain_form_fields(components: dict[str, Any], paths: dict[str, Any]) -> None:
    """A form field is given or left out, never `null`: `anyOf [X, null]` becomes X."""
    for path_item in paths.values():
        for operation in path_item.values():
            form = operation.get("requestBody", {}).get("content", {}).get("multipart/form-data", {})
            ref = form.get("schema", {}).get("$ref", "")
            for prop in components.get(ref.rsplit("/", 1)[-1], {}).get("properties", {}).values():
                options = [o for o in prop.pop("anyOf", []) if o.get("type") != "null"]
                if len(options) == 1:
                    prop.update(options[0])
                elif options:
                    prop["anyOf"] = options


def install_contract(app: FastAPI, settings: Settings) -> None:
    """Serve the rewritten document as `/openapi.json` (built once, on first request)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if getattr(app.state, "contract", None) is None:
            app.state.contract = rewrite(generate(), settings)
        return app.state.contract

    app.openapi = openapi  # type: ignore[method-assign]

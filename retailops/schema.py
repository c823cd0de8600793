"""The OpenAPI schema tells the truth about errors and about fields some roles do not receive.

`AutoSchema` (REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]) adds to every operation the error answers the API gives —
400 where the request carries a body or query parameters (the DRF error shape), 401, 403, 404 where the path
names an object, 429 where a limit applies — unless the view documents its own. A serializer lists in
`cost_fields` the fields it drops for roles that do not see costs: the schema marks them optional and says so;
every other field of an answer is required (it is always there).
"""

from __future__ import annotations

from drf_spectacular import openapi
from drf_spectacular.plumbing import ResolvedComponent

COST_NOTE = "Only for roles that see costs (owners, accountants); absent for the others."

# Operations a limit applies to (engineer H2's queued-work limit): operationId → what the 429 says.
RATE_LIMITED = {
    "forecast_runs_create": "Too many runs of yours are waiting: `detail` says how many and when to try again "
    "(the Retry-After header, in seconds).",
}

_DETAIL = {
    "type": "object",
    "properties": {"detail": {"type": "string", "description": "Why, in a sentence."}},
    "required": ["detail"],
}
_VALIDATION = {
    "type": "object",
    "description": "Either `detail` (with every message in `errors`), or each field or query parameter that "
    'does not validate with its messages: `{"date_from": ["Enter a valid date."]}`.',
    "properties": {
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "string"}},
    },
    "additionalProperties": {},
}
_ERRORS = {
    "400": ("ValidationError", _VALIDATION, "The request does not validate; nothing was changed."),
    "401": ("ErrorDetail", _DETAIL, "No valid token or session."),
    "403": ("ErrorDetail", _DETAIL, "The caller's role may not do this."),
    "404": ("ErrorDetail", _DETAIL, "No such object among those the caller may see."),
    "409": ("ErrorDetail", _DETAIL, "The object's state refuses this (e.g. a count no longer open)."),
    "429": ("ErrorDetail", _DETAIL, "Over a limit: try again later."),
}


class AutoSchema(openapi.AutoSchema):
    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        responses = operation.setdefault("responses", {})
        codes = ["401", "403"]
        query = [p for p in operation.get("parameters", []) if p.get("in") == "query"]
        if query or "requestBody" in operation:
            codes.append("400")
        if "{" in path:
            codes.append("404")
        if operation.get("operationId") in RATE_LIMITED or self.view.get_throttles():
            codes.append("429")
        for code in sorted(set(codes) | {c for c in responses if c in _ERRORS}):
            self._add_error(responses, code, operation.get("operationId", ""))
        return operation

    def _add_error(self, responses: dict, code: str, operation_id: str) -> None:
        name, schema, description = _ERRORS[code]
        if code == "429":
            description = RATE_LIMITED.get(operation_id, description)
        component = ResolvedComponent(name=name, type=ResolvedComponent.SCHEMA, schema=schema, object=name)
        self.registry.register_on_missing(component)
        response = responses.setdefault(code, {"description": description})
        if not response.get("description"):
            response["description"] = description
        # A view that documents its own body for this code (receipts: the per-receipt result) keeps it.
        response.setdefault("content", {"application/json": {"schema": component.ref}})
        if code == "429":
            response.setdefault(
                "headers", {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}}
            )

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        if direction != "response":
            return schema
        # An answer carries every field of its serializer (a writable model field with a default is no less
        # there), except the cost fields a role that does not see costs never receives.
        cost_fields = getattr(serializer, "cost_fields", ())
        required = [name for name in schema["properties"] if name not in cost_fields]
        if required:
            schema["required"] = sorted(required)
        else:
            schema.pop("required", None)
        if cost_fields:
            for name in cost_fields:
                field = schema["properties"].get(name)
                if field is not None:
                    field["description"] = f"{field.get('description', '')} {COST_NOTE}".strip()
        return schema

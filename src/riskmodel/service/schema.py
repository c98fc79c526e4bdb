"""The API's bodies: reading a ``POST /score`` body, and the schemas the OpenAPI document gives.

:func:`read_score_body` turns the bytes of a request into its list of release objects,
refusing what is not JSON (400) and a body of the wrong shape or with a key named twice
in one object (422), each refusal naming the field and the rule. The release objects'
own values are the contract's to judge (:func:`~riskmodel.data.contract.check_json_releases`).

The schemas are built from the same declarations the service applies: the request's
from the contract's column specs (:data:`~riskmodel.data.contract.RELEASE_SPECS`) and
:data:`MAX_RELEASES_PER_REQUEST`, the answer's from the scoring output's Arrow schema,
every refusal's from :class:`~riskmodel.service.errors.ServiceError`'s body. So the
document cannot drift from what the service does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import pyarrow as pa

from riskmodel.data.contract import JSON_INTEGER_LIMIT, RELEASE_SPECS, ColumnSpec
from riskmodel.scoring.output import output_schema
from riskmodel.service.errors import ServiceError
from riskmodel.service.state import MAX_RELEASES_PER_REQUEST

__all__ = [
    "read_score_body",
    "release_schema",
    "score_request_schema",
    "score_record_schema",
    "ERROR_SCHEMA",
    "error_responses",
]

#: A date the contract may accept: an ISO 8601 day from 1900 on, perhaps with a time.
_DATE_PATTERN = r"^\s*(19|20)\d\d-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
#: A decimal number written as text (what ``float`` reads, bar infinities and underscores).
_NUMBER_TEXT = r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?"

#: What any other field of a release may hold (it is named in the answer's warnings).
_SCALAR = {
    "anyOf": [
        {"type": "string", "nullable": True},
        {"type": "number", "minimum": -JSON_INTEGER_LIMIT, "maximum": JSON_INTEGER_LIMIT},
        {"type": "boolean"},
    ]
}

_DUPLICATE_RULE = "duplicate key: named more than once in one JSON object"


class _Duplicated(dict):
    """A parsed JSON object one of whose keys was named more than once."""

    duplicates: list[str]


def _invalid_json(rule: str) -> ServiceError:
    return ServiceError(400, f"body: not valid JSON ({rule})", problems=[{"field": "body", "rule": rule}])


def _long_int(text: str) -> int | float:
    """An integer literal, or ±inf when it has more digits than Python converts (a float would overflow anyway)."""
    return int(text) if len(text) < 4000 else float(text)


def _loads(raw: bytes, hook: Any) -> Any:
    try:
        try:
            return json.loads(raw, object_pairs_hook=hook)
        except ValueError as exc:
            if "integer string conversion" not in str(exc):
                raise
            return json.loads(raw, object_pairs_hook=hook, parse_int=_long_int)
    except json.JSONDecodeError as exc:
        raise _invalid_json(f"must be JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except UnicodeDecodeError:
        raise _invalid_json("must be JSON text in UTF-8") from None
    except RecursionError:
        raise _invalid_json("must be JSON nested at most a few hundred levels deep") from None
    except ValueError:
        raise _invalid_json("must be JSON") from None


def _duplicate_paths(node: Any, path: str, found: list[str]) -> None:
    if isinstance(node, dict):
        for key in getattr(node, "duplicates", ()):
            found.append(f"{path}.{key}" if path else key)
        for key, value in node.items():
            if isinstance(value, dict | list):
                _duplicate_paths(value, f"{path}.{key}" if path else key, found)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            if isinstance(value, dict | list):
                _duplicate_paths(value, f"{path}[{i}]", found)


def _shape_problem(body: Any) -> dict[str, str] | None:
    if not isinstance(body, dict):
        return {"field": "body", "rule": 'must be a JSON object: {"releases": [...]}'}
    unknown = [key for key in body if key != "releases"]
    if unknown:
        return {"field": unknown[0], "rule": "unknown field: the body holds only 'releases'"}
    if "releases" not in body:
        return {"field": "releases", "rule": "required"}
    if not isinstance(body["releases"], list):
        return {"field": "releases", "rule": "must be an array of release objects"}
    return None


def read_score_body(raw: bytes) -> list[Any]:
    """The release objects of a ``POST /score`` body ``{"releases": [...]}``.

    Parameters
    ----------
    raw : bytes
        The request body (its size already bounded by the web layer).

    Returns
    -------
    list
        The parsed ``releases`` array, its items as sent (the contract checks them).

    Raises
    ------
    ServiceError
        400 when the body is not JSON; 422 when it is not an object holding only a
        ``releases`` array, or when a JSON object names a key twice. The body is
        ``{"error", "problems": [{"field", "rule"}]}``, naming no value.

    Examples
    --------
    >>> read_score_body(b'{"releases": [{"release_id": "r1"}]}')
    [{'release_id': 'r1'}]
    >>> read_score_body(b'{"releases": [{"sex": "M", "sex": "F"}]}')
    Traceback (most recent call last):
    ...
    riskmodel.service.errors.ServiceError: releases[0].sex: duplicate key: named more than once in one JSON object
    """
    duplicated: list[_Duplicated] = []

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) != len(pairs):
            seen: set[str] = set()
            obj = _Duplicated(obj)
            obj.duplicates = list(dict.fromkeys(k for k, _ in pairs if k in seen or seen.add(k)))
            duplicated.append(obj)
        return obj

    body = _loads(raw, pairs_hook)
    if duplicated:
        paths: list[str] = []
        _duplicate_paths(body, "", paths)
        problems = [{"field": path, "rule": _DUPLICATE_RULE} for path in paths]
        raise ServiceError(422, "; ".join(f"{p['field']}: {p['rule']}" for p in problems[:20]), problems=problems)
    problem = _shape_problem(body)
    if problem is not None:
        raise ServiceError(422, f"{problem['field']}: {problem['rule']}", problems=[problem])
    return body["releases"]


# --------------------------------------------------------------------------- schemas

_PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["field", "rule"],
    "properties": {
        "field": {"type": "string", "description": "The field, e.g. releases[2].sex, or body"},
        "rule": {"type": "string", "description": "The rule it breaks"},
        "index": {"type": "integer", "description": "The release's position in the request"},
        "release_id": {"description": "The release's release_id, as sent (any JSON value)"},
        "value": {"description": "The value refused, as sent (in the answer only, never in logs)"},
    },
}

#: Every refusal's body (:attr:`ServiceError.body`).
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {"type": "string", "description": "What was refused and why"},
        "problems": {"type": "array", "items": _PROBLEM_SCHEMA},
    },
}

_REFUSALS = {
    400: "The body is not JSON",
    401: "No live API key: send 'Authorization: Bearer KEY'",
    403: "The key's role may not do this",
    413: "The request body is over the limit (RISKMODEL_MAX_BODY_BYTES); refused before it is read",
    422: "Refused, naming each field and rule",
    503: "The audit database (or the registry) cannot be used now; nothing was scored",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries of the refusals ``statuses``, each with :data:`ERROR_SCHEMA`.

    Examples
    --------
    >>> sorted(error_responses(401, 403))
    [401, 403]
    """
    return {
        status: {"description": _REFUSALS[status], "content": {"application/json": {"schema": ERROR_SCHEMA}}}
        for status in statuses
    }


def _caseless(word: str) -> str:
    """A regular expression matching ``word`` in any case (ECMA regexes have no inline flags)."""
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in word)


def _text_of(alternatives: Iterable[str], *, blank: bool) -> dict[str, Any]:
    """A string schema for the text forms the contract reads (surrounding spaces ignored; blank = unknown)."""
    pattern = rf"^\s*({'|'.join(alternatives)})\s*$"
    if blank:
        pattern = rf"^\s*$|{pattern}"
    return {"type": "string", "pattern": pattern}


def _column_schema(spec: ColumnSpec) -> dict[str, Any]:
    """One column's schema: every form the contract accepts (JSON values, and text as in a CSV file).

    The schema must never be stricter than the service, so that a client generated from it
    works: what the schema cannot say (cross-field rules, dates relative to today, whole
    numbers written as text) is checked by the service and refused with 422.
    """
    blank = not spec.required
    if spec.kind == "category":
        words = [_caseless(a) if spec.ignore_case else re.escape(a) for a in spec.allowed]
        schema: dict[str, Any] = {**_text_of(words, blank=blank), "description": f"one of {', '.join(spec.allowed)}"}
    elif spec.kind == "date":
        schema = {
            "type": "string",
            "format": "date",
            "pattern": _DATE_PATTERN if spec.required else rf"^\s*$|{_DATE_PATTERN}",
        }
    elif spec.kind in ("number", "integer"):
        number: dict[str, Any] = {"type": "number"}
        for bound, key, limit in (
            (spec.low, "minimum", -JSON_INTEGER_LIMIT),
            (spec.high, "maximum", JSON_INTEGER_LIMIT),
        ):
            number[key] = bound if isinstance(bound, int | float) else limit  # JSON numbers beyond are refused
        schema = {"anyOf": [number, _text_of([_NUMBER_TEXT], blank=blank)]}
    elif spec.kind == "boolean":
        words = [_caseless(w) for w in ("true", "false", "yes", "no")] + [r"1(\.0)?", r"0(\.0)?"]
        schema = {"anyOf": [{"type": "boolean"}, {"type": "integer", "enum": [0, 1]}, _text_of(words, blank=blank)]}
    else:  # text: a JSON number or boolean is read as its text
        text = {"type": "string", "minLength": 1} if spec.required else {"type": "string"}
        schema = {"anyOf": [text, {"type": "number"}, {"type": "boolean"}]}
    rules = [spec.range_reason] if spec.range_reason and any(isinstance(b, str) for b in (spec.low, spec.high)) else []
    if rules:
        schema["description"] = rules[0]
    if not spec.required:
        schema["nullable"] = True
        for option in schema.get("anyOf", ()):
            option["nullable"] = True
    return schema


def release_schema() -> dict[str, Any]:
    """JSON Schema (OpenAPI 3.0) of one release object: the contract's columns and rules.

    Numbers and flags may also be sent as text, as in a CSV file; other fields are
    warned about in the answer, and direct identifiers refused.

    Examples
    --------
    >>> release_schema()["properties"]["age_at_release"]["anyOf"][0]
    {'type': 'number', 'minimum': 10, 'maximum': 100}
    """
    return {
        "type": "object",
        "description": (
            "One release (data contract v1). Numbers and needs flags may also be written as text"
            " (as in a CSV file); cross-field rules (e.g. age_at_first_sanction <= age_at_release)"
            " and date limits are checked too. Unknown fields are named in the answer's warnings;"
            " direct identifiers (names, dates of birth, PNC or NHS numbers, contact details) are refused."
        ),
        "required": [spec.name for spec in RELEASE_SPECS if spec.required],
        "properties": {spec.name: _column_schema(spec) for spec in RELEASE_SPECS},
        "additionalProperties": _SCALAR,
    }


def score_request_schema() -> dict[str, Any]:
    """JSON Schema of a ``POST /score`` body: ``{"releases": [1 to MAX_RELEASES_PER_REQUEST releases]}``.

    Examples
    --------
    >>> score_request_schema()["properties"]["releases"]["maxItems"] == MAX_RELEASES_PER_REQUEST
    True
    """
    return {
        "type": "object",
        "required": ["releases"],
        "additionalProperties": False,
        "properties": {
            "releases": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_RELEASES_PER_REQUEST,
                "items": release_schema(),
            }
        },
    }


def _arrow_schema(kind: pa.DataType) -> dict[str, Any]:
    if pa.types.is_list(kind):
        return {"type": "array", "items": _arrow_schema(kind.value_type)}
    if pa.types.is_struct(kind):
        fields = [kind.field(i) for i in range(kind.num_fields)]
        return {
            "type": "object",
            "required": [f.name for f in fields],
            "properties": {f.name: _arrow_schema(f.type) for f in fields},
        }
    if pa.types.is_integer(kind):
        return {"type": "integer", "nullable": True}
    if pa.types.is_floating(kind):
        return {"type": "number", "nullable": True}
    return {"type": "string", "nullable": True}


def score_record_schema() -> dict[str, Any]:
    """JSON Schema of one scored release in the answer (the scoring output's columns).

    Examples
    --------
    >>> score_record_schema()["properties"]["needs"]
    {'type': 'array', 'items': {'type': 'string', 'nullable': True}}
    """
    return _arrow_schema(pa.struct(list(output_schema())))

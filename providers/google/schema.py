"""JSON Schema (what OpenAI tools and `response_format` carry) → the OpenAPI subset Gemini accepts.

Gemini's `Schema` knows `type` (upper-case), `nullable`, `enum` (strings only), `properties`, `required`,
`items`, `anyOf`, `description`, `format` (a few values per type) and the usual bounds. Everything else is
dropped (`additionalProperties`, `$schema`, `default`, `examples`, `title`, ...). Local `$ref`s into
`$defs` / `definitions` are inlined; a recursive one cannot be expressed and raises `SchemaError`.
"""

from __future__ import annotations

from typing import Any

JSON_TYPES = {
    "string": "STRING", "number": "NUMBER", "integer": "INTEGER", "boolean": "BOOLEAN",
    "array": "ARRAY", "object": "OBJECT", "null": "NULL",
}
# Copied as they are when present.
PLAIN_KEYWORDS = (
    "description", "minItems", "maxItems", "minLength", "maxLength", "pattern", "minimum", "maximum",
    "minProperties", "maxProperties", "propertyOrdering",
)
# The only `format` values Gemini accepts, per type; others are dropped rather than rejected upstream.
FORMATS = {"STRING": {"enum", "date-time"}, "NUMBER": {"float", "double"}, "INTEGER": {"int32", "int64"}}
MAX_DEPTH = 32


class SchemaError(ValueError):
    """The schema uses something Gemini cannot express (a recursive $ref, a $ref outside the document)."""


def to_gemini_schema(schema: Any) -> dict:
    """The Gemini form of a JSON schema. Raises SchemaError when it cannot be expressed."""
    if not isinstance(schema, dict):
        return {}
    defs = {**(schema.get("definitions") or {}), **(schema.get("$defs") or {})}
    return _convert(schema, defs, (), 0)


def _convert(schema: Any, defs: dict, refs: tuple[str, ...], depth: int) -> dict:
    if depth > MAX_DEPTH:
        raise SchemaError(f"the schema nests deeper than {MAX_DEPTH} levels")
    if schema is True or not isinstance(schema, dict):
        return {}
    ref = schema.get("$ref")
    if isinstance(ref, str):
        target, refs = _resolve(ref, defs, refs)
        siblings = {key: value for key, value in schema.items() if key != "$ref"}
        schema = {**target, **siblings}  # keywords beside a $ref (e.g. a description) win
    schema = _merge_all_of(schema, defs, refs, depth)

    variants = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(variants, list) and variants:
        return _union(schema, variants, defs, refs, depth)

    out: dict[str, Any] = {}
    type_ = schema.get("type")
    if isinstance(type_, list):
        non_null = [t for t in type_ if t != "null"]
        if len(non_null) > 1:
            return _union(schema, [{**schema, "type": t} for t in non_null] + (
                [{"type": "null"}] if "null" in type_ else []), defs, refs, depth)
        if "null" in type_:
            out["nullable"] = True
        type_ = non_null[0] if non_null else "null"
    if "const" in schema and "enum" not in schema:
        schema = {**schema, "enum": [schema["const"]]}
        type_ = type_ or _type_of(schema["const"])
    if type_ is None:
        type_ = "object" if "properties" in schema else "array" if "items" in schema else None
    gemini_type = JSON_TYPES.get(type_) if isinstance(type_, str) else None
    if gemini_type:
        out["type"] = gemini_type
    if schema.get("nullable") is True:
        out["nullable"] = True
    for key in PLAIN_KEYWORDS:
        if key in schema:
            out[key] = schema[key]
    fmt = schema.get("format")
    if isinstance(fmt, str) and fmt in FORMATS.get(gemini_type or "", ()):
        out["format"] = fmt
    _copy_enum(schema, out)
    properties = schema.get("properties")
    if isinstance(properties, dict):
        out["properties"] = {
            str(name): _convert(value, defs, refs, depth + 1) for name, value in properties.items()
        }
        required = [name for name in schema.get("required") or () if name in properties]
        if required:
            out["required"] = required
    if "items" in schema:
        items = schema["items"]
        out["items"] = _convert(items[0] if isinstance(items, list) and items else items, defs, refs, depth + 1)
    return out


def _union(schema: dict, variants: list, defs: dict, refs: tuple[str, ...], depth: int) -> dict:
    nullable = any(isinstance(v, dict) and v.get("type") == "null" for v in variants)
    rest = [v for v in variants if not (isinstance(v, dict) and v.get("type") == "null")]
    outer = {key: schema[key] for key in ("description",) if key in schema}
    if len(rest) == 1:
        out = {**_convert(rest[0], defs, refs, depth + 1), **outer}
    else:
        out = {**outer, "anyOf": [_convert(v, defs, refs, depth + 1) for v in rest]}
    if nullable or schema.get("nullable") is True:
        out["nullable"] = True
    return out


def _merge_all_of(schema: dict, defs: dict, refs: tuple[str, ...], depth: int) -> dict:
    """Inline `allOf` parts into the schema (pydantic wraps a described `$ref` this way)."""
    parts = schema.get("allOf")
    if not isinstance(parts, list) or not parts:
        return schema
    merged = {key: value for key, value in schema.items() if key != "allOf"}
    for part in parts:
        if not isinstance(part, dict):
            continue
        if isinstance(part.get("$ref"), str):
            target, refs = _resolve(part["$ref"], defs, refs)
            part = {**target, **{k: v for k, v in part.items() if k != "$ref"}}
        for key, value in part.items():
            if key == "properties" and isinstance(value, dict):
                merged["properties"] = {**(merged.get("properties") or {}), **value}
            elif key == "required" and isinstance(value, list):
                merged["required"] = [*(merged.get("required") or []), *value]
            else:
                merged.setdefault(key, value)
    return merged


def _resolve(ref: str, defs: dict, refs: tuple[str, ...]) -> tuple[dict, tuple[str, ...]]:
    for prefix in ("#/$defs/", "#/definitions/"):
        if ref.startswith(prefix) and ref[len(prefix):] in defs:
            if ref in refs:
                raise SchemaError(f"the schema is recursive ('{ref}'), which Gemini cannot express")
            target = defs[ref[len(prefix):]]
            return (target if isinstance(target, dict) else {}), (*refs, ref)
    raise SchemaError(f"the schema refers to '{ref}', which is not in its $defs")


def _copy_enum(schema: dict, out: dict) -> None:
    enum = schema.get("enum")
    if not isinstance(enum, list) or not enum:
        return
    if all(isinstance(value, str) for value in enum):
        out["enum"] = list(enum)
        out["type"] = "STRING"
        return
    # Gemini enums are strings only: keep the constraint readable for the model instead.
    kinds = {_type_of(value) for value in enum}
    if "type" not in out and len(kinds) == 1 and None not in kinds:
        out["type"] = JSON_TYPES[kinds.pop()]
    allowed = ", ".join(map(str, enum))
    out["description"] = f"{out['description']} (one of: {allowed})" if out.get("description") else (
        f"One of: {allowed}")


def _type_of(value: Any) -> str | None:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return None

"""The V1 OpenAPI file (as saved, never edited on disk) cleaned in memory for openapi-core.

The file is tests/specs/shipstation/shipstation-v1-openapi.apisguru.json: ShipStation's own Apiary V1
description (https://shipstation.docs.apiary.io) as converted by APIs.guru (provenance beside it).

The APIs.guru conversion puts query strings into path keys (`/orders?customerName={customerName}&...`)
and declares those as path parameters. We strip the query part, merge the operations, and turn
parameters not in the remaining path template into query parameters. Its response schemas are empty
(`{}`): only examples carry the shapes. So responses are checked against shape schemas derived from
the vendor's own examples (every key of the example present with the same JSON type), with jsonschema.
"""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from pathlib import Path

SPEC = Path(__file__).resolve().parents[2] / "specs" / "shipstation" / "shipstation-v1-openapi.apisguru.json"


@cache
def raw_spec() -> dict:
    return json.loads(SPEC.read_text())


@cache
def cleaned_spec() -> dict:
    spec = copy.deepcopy(raw_spec())
    paths: dict[str, dict] = {}
    for key, item in spec["paths"].items():
        base = key.split("?")[0]
        names = set(re.findall(r"{(\w+)}", base))
        target = paths.setdefault(base, {})
        for method, op in item.items():
            if method not in ("get", "post", "put", "delete"):
                continue
            for param in op.get("parameters", []):
                if param.get("in") == "path" and param["name"] not in names:
                    param["in"] = "query"
                    param["required"] = False
            if method not in target or len(op.get("parameters", [])) > len(target[method].get("parameters", [])):
                target[method] = op
    # The converter marked every key of each example as required (e.g. all 15 OrderItem fields). The
    # vendor's prose says which are required (createorder: orderNumber, orderDate, orderStatus, billTo,
    # shipTo; OrderItem fields optional), so we keep exactly those.
    for item in paths.values():
        for op in item.values():
            for media in (op.get("requestBody") or {}).get("content", {}).values():
                _drop_required(media.get("schema") or {})
    for path in ("/orders/createorder",):
        schema = paths[path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        schema["required"] = ["orderNumber", "orderDate", "orderStatus", "billTo", "shipTo"]
    spec["paths"] = paths
    return spec


def _drop_required(schema: dict) -> None:
    schema.pop("required", None)
    for sub in (schema.get("properties") or {}).values():
        _drop_required(sub)
    if isinstance(schema.get("items"), dict):
        _drop_required(schema["items"])


def openapi():
    from openapi_core import OpenAPI

    return OpenAPI.from_dict(cleaned_spec())


def example(path: str, method: str):
    for key, item in raw_spec()["paths"].items():
        if key.split("?")[0] == path and method in item:
            content = item[method]["responses"]["200"].get("content")
            if content:
                return content["application/json"]["examples"]["response"]["value"]
    raise KeyError(path)


def _type(value) -> list[str]:
    if isinstance(value, bool):
        return ["boolean", "null"]
    if isinstance(value, int | float):
        return ["number", "null"]
    if isinstance(value, str):
        return ["string", "null"]
    if isinstance(value, list):
        return ["array", "null"]
    if isinstance(value, dict):
        return ["object", "null"]
    return []


def shape(value) -> dict:
    """A JSON schema requiring the example's keys with the example's types (null allowed)."""
    if isinstance(value, dict):
        return {"type": _type(value), "required": sorted(value), "properties": {k: shape(v) for k, v in value.items()}}
    if isinstance(value, list):
        schemas = [shape(v) for v in value if v is not None]
        if not schemas:
            return {"type": ["array", "null"]}
        merged = schemas[0]
        if merged.get("properties") is not None:
            merged = {
                "type": merged["type"],
                "required": sorted(set.intersection(*(set(s.get("required", [])) for s in schemas))),
                "properties": {k: v for s in schemas for k, v in s.get("properties", {}).items()},
            }
        return {"type": ["array", "null"], "items": merged}
    if value is None:
        return {}
    return {"type": _type(value)}

"""The V2 OpenAPI file (never edited on disk), loaded once and adjusted in memory for openapi-core.

The file is tests/specs/shipstation/shipstation-v2-openapi.yaml, from the vendor's own
github.com/shipstation/mcp-shipstation-api (canonical copy: https://docs.shipstation.com/_spec/openapi.yaml).

- Only the paths the client uses are kept (inventory, environment webhooks): loading is faster.
- openapi-core's spec check is switched off: the vendor file fails it on its own example data
  (an `se_id` example that is null), which says nothing about the API's shapes.
- Wrapper schemas that are only `allOf: [$ref]` plus `additionalProperties: false` (e.g.
  `get_webhook_by_id_response_body`, `create_webhook_response_body`) lose that `additionalProperties`:
  in JSON Schema it sees no `properties` of its own, so as written no response could ever pass. The
  referenced schema (`webhook`) keeps its own `additionalProperties: false`, so strictness stays.
- `webhook_event` gains the *_v2 events that the current docs list and the 2025 file lacks
  (SHIPSTATION.md §B4, medium-high): without them no V2-era subscription would validate.
Error bodies for statuses the file does not declare per path (401, 429) are checked with jsonschema
against `components.schemas.error_response_body`.
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path

import jsonschema
import yaml

SPEC = Path(__file__).resolve().parents[2] / "specs" / "shipstation" / "shipstation-v2-openapi.yaml"
USED_PATHS = ("/v2/inventory", "/v2/environment/webhooks", "/v2/environment/webhooks/{webhook_id}")
V2_ERA_EVENTS = (
    "batch_processed_v2",
    "track_event_v2",
    "shipment_created_v2",
    "label_created_v2",
    "fulfillment_shipped_v2",
    "fulfillment_rejected_v2",
)


@cache
def raw_spec() -> dict:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(SPEC.read_text(), Loader=loader)


@cache
def cleaned_spec() -> dict:
    spec = copy.deepcopy(raw_spec())
    spec["paths"] = {k: v for k, v in spec["paths"].items() if k in USED_PATHS}
    spec["components"]["schemas"]["webhook_event"]["enum"] += list(V2_ERA_EVENTS)
    for schema in spec["components"]["schemas"].values():
        if schema.get("allOf") and schema.get("additionalProperties") is False and not schema.get("properties"):
            del schema["additionalProperties"]
    return spec


@cache
def openapi():
    from openapi_core import Config, OpenAPI

    return OpenAPI.from_dict(cleaned_spec(), config=Config(spec_validator_cls=None))


def validate_error_body(body: dict) -> None:
    schema = {"$ref": "#/components/schemas/error_response_body", "components": cleaned_spec()["components"]}
    jsonschema.Draft202012Validator(schema).validate(body)

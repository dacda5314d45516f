"""The ShipStation app keeps no state of its own: connections live in connector.models, and the
sandbox's rows in its own app (integrations.shipstation.sandbox, installed only with sandboxes on)."""

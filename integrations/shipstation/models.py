"""Models of the ShipStation app: only the sandbox's state (connections live in connector.models)."""

from integrations.shipstation.sandbox.models import (  # noqa: F401
    SandboxAccount,
    SandboxCustomer,
    SandboxOrder,
    SandboxProduct,
    SandboxShipment,
    SandboxSigningKey,
    SandboxWebhook,
    SandboxWebhookCall,
)

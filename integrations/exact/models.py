"""Models of the Exact app: only the sandbox's state (connections live in connector.models)."""

from integrations.exact.sandbox.models import (  # noqa: F401
    SandboxExactDivision,
    SandboxExactEntity,
    SandboxExactGrant,
    SandboxExactToken,
    SandboxExactUser,
    SandboxExactWebhookDelivery,
    SandboxExactWebhookSubscription,
)

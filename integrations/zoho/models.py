"""Models of the Zoho app: only the sandbox's state (connections live in connector.models)."""

from integrations.zoho.sandbox.models import (  # noqa: F401
    SandboxZohoDocument,
    SandboxZohoGrant,
    SandboxZohoOrg,
    SandboxZohoToken,
    SandboxZohoUser,
)

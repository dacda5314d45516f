"""Print a demo `.env`: fresh secrets, DEBUG and sandboxes on. Used by `make demo` on first run.

PUBLIC_BASE_URL stays unset (commented), so the settings derive it from PORT on every run: a
`.env` written by `make demo` keeps working when the demo later runs on another port.
"""

import secrets
from pathlib import Path

from cryptography.fernet import Fernet

example = Path(__file__).resolve().parent.parent / ".env.example"
lines = []
for line in example.read_text().splitlines():
    if line.startswith("SECRET_KEY="):
        line = f"SECRET_KEY={secrets.token_urlsafe(50)}"
    elif line.startswith("FIELD_ENCRYPTION_KEYS="):
        line = f"FIELD_ENCRYPTION_KEYS={Fernet.generate_key().decode()}"
    elif line.startswith("PUBLIC_BASE_URL="):
        line = "# " + line  # never pin the port: the default follows PORT
    lines.append(line)
print("\n".join(lines))

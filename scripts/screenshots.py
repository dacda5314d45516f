"""Screenshot pages of a running instance at desktop and phone widths (Debian chromium, headless).

Usage: .venv/bin/python scripts/screenshots.py http://127.0.0.1:8000 out_dir path [path ...]
Logs in as the demo user first (manage.py demo).
"""

import os
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking"]


def main(base: str, out: str, paths: list[str]) -> None:
    Path(out).mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        for label, viewport in {"desktop": (1280, 900), "phone": (390, 844)}.items():
            context = browser.new_context(base_url=base, viewport={"width": viewport[0], "height": viewport[1]})
            page = context.new_page()
            page.goto("/accounts/login/")
            page.fill("input[name=login]", "demo@example.com")
            page.fill("input[name=password]", os.environ.get("DEMO_PASSWORD", "connector-demo"))
            page.click("button[type=submit]")
            page.wait_for_load_state()
            for path in paths:
                page.goto(path)
                name = path.strip("/").replace("/", "_") or "dashboard"
                page.screenshot(path=f"{out}/{name}-{label}.png", full_page=True)
            context.close()
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])

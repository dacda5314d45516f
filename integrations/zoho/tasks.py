"""Celery discovers tasks in `tasks.py`: the Zoho tasks live with their code."""

from integrations.zoho.pullback import pull_back_due_flows, pull_back_flow

__all__ = ["pull_back_due_flows", "pull_back_flow"]

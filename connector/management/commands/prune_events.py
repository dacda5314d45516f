"""Apply the event retention rules now (the daily beat task does the same): see connector/retention.py."""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand

from connector.retention import prune_events, retention_period


class Command(BaseCommand):
    help = "Delete events older than EVENT_RETENTION_DAYS (or --days), keeping each record's latest event and every event of a record not done."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, help="keep this many days instead of EVENT_RETENTION_DAYS")

    def handle(self, *args, **options):
        period = timedelta(days=options["days"]) if options["days"] else retention_period()
        if period is None:
            self.stdout.write("Event retention is off (EVENT_RETENTION_DAYS=0): nothing deleted.")
            return
        pruned = prune_events(period)
        self.stdout.write(f"Deleted {pruned} events older than {period.days} days.")

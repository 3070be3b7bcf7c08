"""`manage.py import_oncall --url <OnCall API URL> --token <key> [--dry-run]`."""

from __future__ import annotations

import os

from django.core.management.base import BaseCommand, CommandError

from oncall.oncall_import.client import OnCallAPIError, OnCallClient
from oncall.oncall_import.importer import do_import


class Command(BaseCommand):
    help = (
        "Import users (matched by e-mail), teams, schedules, shifts, overrides, escalation chains, integrations "
        "and routes from Grafana OnCall's public API. Running it again updates what it imported."
    )

    def add_arguments(self, parser):
        parser.add_argument("--url", required=True, help="OnCall's API URL, e.g. https://oncall.example.com")
        parser.add_argument("--token", default=os.environ.get("ONCALL_API_TOKEN", ""),
                            help="an OnCall API key (default: $ONCALL_API_TOKEN)")  # fmt: skip
        parser.add_argument("--dry-run", action="store_true", help="print the mapping; change nothing")

    def handle(self, *args, url: str, token: str, dry_run: bool, **options):
        try:
            client = OnCallClient(url, token)
        except OnCallAPIError as exc:
            raise CommandError(f"--{exc.field}: {exc.message}") from None
        try:
            data = client.fetch_all()
        except OnCallAPIError as exc:
            raise CommandError(exc.message) from None
        finally:
            client.close()
        try:
            report = do_import(data, dry_run=dry_run)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:  # rolled back: nothing half-imported
            raise CommandError(f"OnCall's answers have an unexpected shape ({type(exc).__name__}: {exc}).") from None
        self.stdout.write("Dry run: nothing was changed.\n" if dry_run else "Imported.\n")
        self.stdout.write(f"Mapped ({len(report.mapped)}):")
        for line in report.mapped:
            self.stdout.write(f"  {line}")
        self.stdout.write(f"Not carried over ({len(report.skipped)}):")
        for line in report.skipped:
            self.stdout.write(f"  {line}")

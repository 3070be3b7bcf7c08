"""Fill a fresh install with weeks of realistic incident history, so analytics and the dashboard have
something to show. Idempotent: does nothing when demo incidents already exist (use --force to add more)."""

from __future__ import annotations

import random
from datetime import timedelta

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from incidents.choices import Category, Severity, Source, Status, TimelineKind
from incidents.models import Event, Incident, TimelineEntry

DEMO_KEY = "demo"

SCENARIOS = [
    ("order-service", Category.DATABASE, "Database connection timeout: failed to connect to PostgreSQL"),
    ("api-gateway", Category.NETWORK, "Upstream request timeout: connection refused"),
    ("worker-service", Category.MEMORY, "Out of memory: Java heap space exceeded"),
    ("auth-service", Category.AUTH, "JWT token expired: authentication failed"),
    ("public-api", Category.RATE_LIMIT, "Rate limit exceeded: 429 Too Many Requests"),
    ("storage-node", Category.DISK, "Disk space critical: no space left on device"),
    ("search", Category.PERFORMANCE, "p99 latency 4.2s over SLO of 800ms"),
]
SEVERITIES = [Severity.CRITICAL, Severity.HIGH, Severity.HIGH, Severity.MEDIUM, Severity.MEDIUM, Severity.LOW]


class Command(BaseCommand):
    help = "Create demo incident history (weeks of resolved incidents across services)."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=28)
        parser.add_argument("--per-day", type=float, default=2.5, help="mean incidents a day")
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--force", action="store_true")

    @transaction.atomic
    def handle(self, *args, days, per_day, seed, force, **options):
        if Incident.objects.filter(source_key__startswith=DEMO_KEY).exists() and not force:
            self.stdout.write("Demo history already present.")
            return
        rng = random.Random(seed)
        now = timezone.now()
        created = 0
        for day in range(days, 0, -1):
            for _ in range(_poisson(rng, per_day)):
                self._incident(rng, now - timedelta(days=day, seconds=rng.uniform(0, 86_400)))
                created += 1
        self.stdout.write(f"Created {created} demo incidents over {days} days.")

    def _incident(self, rng: random.Random, detected) -> None:
        # History, written as rows: these incidents were resolved weeks ago, so they must not go through
        # get_or_open_incident (which pages the on-call, pushes live updates and starts triage).
        service, category, message = rng.choice(SCENARIOS)
        severity = rng.choice(SEVERITIES)
        ack = rng.lognormvariate(5.0, 0.8)  # median ~2.5 min
        resolve = ack + rng.lognormvariate(7.3, 0.9)  # median ~25 min after ack
        acknowledged_at, resolved_at = detected + timedelta(seconds=ack), detected + timedelta(seconds=resolve)
        incident = Incident.objects.create(
            title=f"{service}: {message}",
            service=service,
            source=Source.EVENTS,
            source_key=f"{DEMO_KEY}-{rng.getrandbits(48):x}",
            severity=severity,
            status=rng.choice([Status.RESOLVED, Status.CLOSED]),
            category=category,
            summary=f"Burst of errors in {service}: {message}.",
            detected_at=detected,
            first_seen_at=detected,
            acknowledged_at=acknowledged_at,
            resolved_at=resolved_at,
            ack_seconds=ack,
            resolve_seconds=resolve,
            event_count=rng.randint(5, 40),
        )
        Event.objects.bulk_create(
            Event(service=service, level="ERROR", message=message, timestamp=detected - timedelta(seconds=i * 7),
                  received_at=detected, incident=incident)
            for i in range(5)
        )  # fmt: skip
        TimelineEntry.objects.bulk_create(
            [
                TimelineEntry(incident=incident, at=detected, kind=TimelineKind.CREATED, actor="correlation",
                              text="Incident opened from events"),
                TimelineEntry(incident=incident, at=acknowledged_at, kind=TimelineKind.STATUS,
                              actor="demo", text="Status open → acknowledged"),
                TimelineEntry(incident=incident, at=resolved_at, kind=TimelineKind.STATUS,
                              actor="demo", text="Status acknowledged → resolved"),
            ]
        )  # fmt: skip


def _poisson(rng: random.Random, mean: float) -> int:
    count, threshold, product = 0, pow(2.718281828, -mean), rng.random()
    while product > threshold:
        count += 1
        product *= rng.random()
    return count

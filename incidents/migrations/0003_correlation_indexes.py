"""Correlation's indexes on unlinked error events, by (timestamp, service) and (service, timestamp).

Built CONCURRENTLY on PostgreSQL, so adding it to a large events table never blocks ingestion.
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models
from django.db.models.functions import Coalesce
from django.db.models.lookups import Exact

# "No incident" written as COALESCE(incident_id, 0) = 0 (see incidents.models.unlinked).
UNLINKED_ERRORS = models.Q(
    Exact(Coalesce("incident", models.Value(0)), 0), ("level__in", ("ERROR", "CRITICAL", "FATAL"))
)


class AddIndexConcurrentlyOnPostgres(AddIndexConcurrently):
    """CREATE INDEX CONCURRENTLY on PostgreSQL, a plain CREATE INDEX elsewhere (SQLite)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return migrations.AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return migrations.AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("incidents", "0002_integration"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name="event",
            index=models.Index(
                condition=UNLINKED_ERRORS,
                fields=["timestamp", "service"],
                name="event_unlinked_time_idx",
            ),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name="event",
            index=models.Index(
                condition=UNLINKED_ERRORS,
                fields=["service", "timestamp"],
                name="event_unlinked_service_idx",
            ),
        ),
    ]

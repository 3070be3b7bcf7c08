"""Per-person profile (time zone, "my shifts" calendar secret) and a calendar secret per schedule.

Existing schedules each get their own random token: the field is added nullable, filled row by row, then
made required and unique (a callable default in AddField would give every row the same value)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import oncall.models


def fill_schedule_tokens(apps, schema_editor):
    Schedule = apps.get_model("oncall", "Schedule")
    for schedule in Schedule.objects.filter(calendar_token__isnull=True).only("id"):
        Schedule.objects.filter(pk=schedule.pk).update(calendar_token=oncall.models.new_calendar_token())


class Migration(migrations.Migration):
    dependencies = [
        ("oncall", "0007_transport_kinds"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="schedule",
            name="calendar_token",
            field=models.CharField(max_length=64, null=True, editable=False),
        ),
        migrations.RunPython(fill_schedule_tokens, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="schedule",
            name="calendar_token",
            field=models.CharField(
                default=oncall.models.new_calendar_token, editable=False, max_length=64, unique=True
            ),
        ),
        migrations.CreateModel(
            name="UserProfile",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "time_zone",
                    models.CharField(
                        blank=True, default="", max_length=64, validators=[oncall.models.validate_time_zone]
                    ),
                ),
                (
                    "calendar_token",
                    models.CharField(
                        default=oncall.models.new_calendar_token, editable=False, max_length=64, unique=True
                    ),
                ),
                (
                    "user",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="profile",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={"ordering": ["user__username"]},
        ),
    ]

"""Broadcast monitor changes to `/ws/incidents/` after commit."""

from django.db import transaction

from incidents.consumers import LIVE_GROUP
from monitoring.api.serializers import MonitorSerializer
from monitoring.models import Monitor
from opsassist.lib.live import group_send


def broadcast_monitor_on_commit(monitor_id: int) -> None:
    transaction.on_commit(lambda: broadcast_monitor(monitor_id), robust=True)


def broadcast_monitor(monitor_id: int) -> None:
    monitor = Monitor.objects.filter(pk=monitor_id).first()
    if monitor is not None:
        group_send(LIVE_GROUP, {"type": "monitor.updated", "monitor": MonitorSerializer(monitor).data})

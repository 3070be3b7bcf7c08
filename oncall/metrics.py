"""oncall_notifications_sent_total{channel,status}, counted from the delivery log at scrape time."""

from django.db.models import Count
from prometheus_client.core import CounterMetricFamily


class NotificationCollector:
    def collect(self):
        from oncall.models import Notification

        family = CounterMetricFamily(
            "oncall_notifications_sent", "Notifications by channel kind and outcome", labels=["channel", "status"]
        )
        rows = (
            Notification.objects.filter(status__in=["sent", "failed"]).values("kind", "status").annotate(n=Count("id"))
        )
        for row in rows.order_by("kind", "status"):
            family.add_metric([row["kind"], row["status"]], row["n"])
        yield family

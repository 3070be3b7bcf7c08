"""Live incident and monitor updates for logged-in browsers (and token-authenticated scripts)."""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

# Every change to an incident or monitor is sent to this one group (see incidents.live).
LIVE_GROUP = "opsassist.live"


def person_group(user_id: int) -> str:
    """Each connection of one person: an `access.revoked` message to it closes them all (deactivated,
    role changed), and whoever reconnects is authorized afresh."""
    return f"opsassist.person.{user_id}"


class IncidentsConsumer(AsyncJsonWebsocketConsumer):
    """`/ws/incidents/`: refuses anonymous connections and users who may not view incidents; relays
    `incident.*`, `timeline.added` and `monitor.*` events."""

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not await _may_view(user):
            await self.close()
            return
        await self.channel_layer.group_add(LIVE_GROUP, self.channel_name)
        await self.channel_layer.group_add(person_group(user.pk), self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        await self.channel_layer.group_discard(LIVE_GROUP, self.channel_name)
        user = self.scope.get("user")
        if user is not None and user.is_authenticated:
            await self.channel_layer.group_discard(person_group(user.pk), self.channel_name)

    async def receive_json(self, content, **kwargs):
        if content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    async def incident_created(self, event):
        await self.send_json({"type": "incident.created", "incident": event["incident"]})

    async def incident_updated(self, event):
        await self.send_json({"type": "incident.updated", "incident": event["incident"]})

    async def timeline_added(self, event):
        await self.send_json({"type": "timeline.added", "incident_id": event["incident_id"], "entry": event["entry"]})

    async def access_revoked(self, event):
        await self.close(code=4403)

    async def monitor_updated(self, event):
        await self.send_json({"type": "monitor.updated", "monitor": event["monitor"]})


@database_sync_to_async
def _may_view(user) -> bool:
    return user.has_perm("incidents.view_incident")

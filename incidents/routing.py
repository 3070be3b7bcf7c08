from django.urls import path

from incidents import consumers

websocket_urlpatterns = [
    path("ws/incidents/", consumers.IncidentsConsumer.as_asgi()),
]

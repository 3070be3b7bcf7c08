from incidents.routing import websocket_urlpatterns as incident_routes

websocket_urlpatterns = [*incident_routes]

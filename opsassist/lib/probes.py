"""`/health/live` and `/health/ready` answer whatever the Host header says.

A kubelet (or a load balancer) probes the pod by its IP: the Host is that IP, which is neither
OPSASSIST_URL's host nor loopback, so Django's Host validation would answer 400 and the pod would be
restarted or taken out of service. These two carry nothing a DNS-rebinding page could use (a status word
and the names of failed checks), so they are served before the rest of the chain, which is where the
Host is validated; every other path, `/health` included, still is."""

from opsassist import views

PROBES = {"/health/live": views.live, "/health/ready": views.ready}


class ProbesAnyHostMiddleware:
    sync_capable, async_capable = True, False

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        probe = PROBES.get(request.path_info)
        if probe is not None:
            return probe(request)
        return self.get_response(request)

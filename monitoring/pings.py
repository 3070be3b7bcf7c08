"""The check-in ping endpoints: `GET|POST /ping/<token>[/start|/fail]`, no login (the URL is the secret).

Plain Django views: no session, no CSRF (cron's curl has neither), no body read. An unknown token is a
404 that costs one indexed lookup and writes nothing."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from monitoring import checkins


@csrf_exempt
@require_http_methods(["GET", "POST", "HEAD"])
def ping(request, token: str, kind: str = "success"):
    if not checkins.do_ping(token, kind):
        raise Http404("No check-in with this URL.")
    response = HttpResponse("OK\n", content_type="text/plain")
    response["Cache-Control"] = "no-store"
    return response

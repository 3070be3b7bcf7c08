"""Pages and endpoints reached from outside a login session: action links and Slack's interactivity."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from oncall import links, slack
from oncall.models import ActionLink
from opsassist.lib.errors import ServiceError

EXPLANATIONS = {
    ActionLink.Action.ACKNOWLEDGE: ("Acknowledge incident", "Acknowledge", "acknowledged"),
    ActionLink.Action.RESOLVE: ("Resolve incident", "Resolve", "resolved"),
    ActionLink.Action.SNOOZE: ("Snooze incident", "Snooze", "snoozed"),
}


def _page(request: HttpRequest, status: int = 200, **context) -> HttpResponse:
    response = render(request, "oncall/action_link.html", context, status=status)
    response["Referrer-Policy"] = "no-referrer"  # the token is in this page's URL
    response["X-Robots-Tag"] = "noindex"
    return response


def _refused(request: HttpRequest, status: int, message: str, incident=None) -> HttpResponse:
    return _page(request, status, heading="Nothing was changed", message=message, incident=incident)


@never_cache
@require_http_methods(["GET", "POST"])
def action_link(request: HttpRequest, token: str) -> HttpResponse:
    """GET: what the link will do, with a button (changes nothing: scanners fetch links). POST: do it."""
    try:
        link = links.check_link(token)
    except links.LinkRefused as exc:
        return _refused(request, exc.status, exc.message)
    title, button, done = EXPLANATIONS[link.action]
    if request.method == "GET":
        explanation = f"This will mark the incident {done} as {link.recipient}."
        return _page(request, heading=title, incident=link.incident, link=link, form=True, button=button,
                     explanation=explanation, snooze_minutes=links.SNOOZE_MINUTES,
                     default_minutes=links.DEFAULT_SNOOZE_MINUTES)  # fmt: skip
    try:
        minutes = links.check_minutes(request.POST.get("minutes"))
        incident = links.do_use_link(link, minutes)
    except links.LinkRefused as exc:
        return _refused(request, exc.status, exc.message, link.incident)
    except ServiceError as exc:
        return _refused(request, 409, exc.message, link.incident)
    incident.refresh_from_db()
    suffix = f" for {minutes} minutes" if link.action == ActionLink.Action.SNOOZE else ""
    return _page(request, heading=f"Incident {done}", incident=incident,
                 message=f"Incident #{incident.pk} {done}{suffix} by {link.recipient}.")  # fmt: skip


@csrf_exempt  # Slack signs the request instead (verified before anything is read)
@require_POST
def slack_interactive(request: HttpRequest) -> HttpResponse:
    """Slack's interactivity request URL: Acknowledge / Resolve button clicks."""
    try:
        answer = slack.do_handle_interaction(request.body, request.headers)
    except slack.SlackRefused as exc:
        return HttpResponse(exc.message, status=exc.status, content_type="text/plain")
    return JsonResponse(answer)

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

# action: (page title, button, past tense, what the button does)
EXPLANATIONS: dict[str, tuple[str, str, str, str]] = {
    ActionLink.Action.ACKNOWLEDGE: ("Acknowledge incident", "Acknowledge", "acknowledged",
                                    "acknowledges the incident: escalation stops"),
    ActionLink.Action.RESOLVE: ("Resolve incident", "Resolve", "resolved", "resolves the incident"),
    ActionLink.Action.SNOOZE: ("Snooze incident", "Snooze", "snoozed",
                               "snoozes the incident: no paging until the time is up; still unresolved then, it "
                               "pages again"),
}  # fmt: skip


def _page(request: HttpRequest, status: int = 200, **context) -> HttpResponse:
    response = render(request, "oncall/action_link.html", context, status=status)
    # The token is in this page's URL: it may go only to ourselves. (Not "no-referrer": browsers then send
    # `Origin: null` with the form, which the CSRF check rightly refuses.)
    response["Referrer-Policy"] = "same-origin"
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
    title, button, done, effect = EXPLANATIONS[link.action]
    if request.method == "GET":
        explanation = f"This {effect}. You act as {link.recipient}; the link works once."
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

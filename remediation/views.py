"""The postmortem page of a resolved incident: a Markdown draft to edit and download."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from incidents.choices import Status
from incidents.models import Incident
from remediation.postmortem import draft

MAX_MARKDOWN = 100_000
DONE = (Status.RESOLVED, Status.CLOSED)


def _download(incident: Incident, text: str) -> HttpResponse:
    response = HttpResponse(text, content_type="text/markdown; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="postmortem-{incident.pk}.md"'
    return response


@login_required
def postmortem(request, pk: int):
    if not request.user.has_perm("incidents.view_incident"):
        raise PermissionDenied
    incident = get_object_or_404(Incident.objects.select_related("assigned_to"), pk=pk)
    context = {"incident": incident, "can_change": request.user.has_perm("incidents.change_incident"),
               "CLAUDE": bool(settings.ANTHROPIC_API_KEY), "markdown": None}  # fmt: skip
    if incident.status not in DONE:
        context["error"] = "A postmortem is written once the incident is resolved."
        return render(request, "remediation/postmortem.html", context, status=409)
    action = request.POST.get("action") if request.method == "POST" else None
    if action == "download":
        text = request.POST.get("markdown", "")
        if len(text) > MAX_MARKDOWN:
            context["error"] = f"markdown: at most {MAX_MARKDOWN} characters."
            return render(request, "remediation/postmortem.html", {**context, "markdown": text[:MAX_MARKDOWN]},
                          status=400)  # fmt: skip
        return _download(incident, text)
    if action == "claude" and not context["can_change"]:
        raise PermissionDenied
    tz = timezone.get_current_timezone()
    context["markdown"] = draft(incident, tz, use_claude=action == "claude")
    return render(request, "remediation/postmortem.html", context)

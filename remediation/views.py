"""The postmortem page of a resolved incident: the saved postmortem (or a fresh draft) to edit, save and
download as Markdown. Responders edit and save; everyone who reads incidents reads and downloads."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone

from incidents.models import Incident
from opsassist.lib.errors import ServiceError
from remediation.postmortem import DONE, MAX_MARKDOWN, check_markdown, do_save_postmortem, draft, saved

TEMPLATE = "remediation/postmortem.html"


def _download(incident: Incident, text: str) -> HttpResponse:
    response = HttpResponse(text, content_type="text/markdown; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="postmortem-{incident.pk}.md"'
    return response


def _version(raw: str | None) -> int | None:
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise ServiceError("version: a whole number is required.", field="version")
    return int(raw)


@login_required
def postmortem(request, pk: int):
    if not request.user.has_perm("incidents.view_incident"):
        raise PermissionDenied
    incident = get_object_or_404(Incident.objects.select_related("assigned_to"), pk=pk)
    found = saved(incident)
    context = {"incident": incident, "postmortem": found, "version": found.version if found else 0,
               "can_change": request.user.has_perm("incidents.change_incident"), "markdown": None,
               "CLAUDE": bool(settings.ANTHROPIC_API_KEY), "max_markdown": MAX_MARKDOWN}  # fmt: skip
    if found is None and incident.status not in DONE:
        context["error"] = "A postmortem is written once the incident is resolved."
        return render(request, TEMPLATE, context, status=409)
    action = request.POST.get("action") if request.method == "POST" else None
    if action in ("save", "download"):
        return _submitted(request, incident, action, context)
    if action == "claude" and not context["can_change"]:
        raise PermissionDenied
    if request.GET.get("download") and found is not None:
        return _download(incident, found.markdown)
    if found is not None and action != "claude" and not request.GET.get("draft"):
        context["markdown"] = found.markdown
    else:
        context["markdown"] = draft(incident, timezone.get_current_timezone(), use_claude=action == "claude")
        context["unsaved_draft"] = True
    return render(request, TEMPLATE, context)


def _submitted(request, incident: Incident, action: str, context: dict):
    """Download the text as edited (anyone who reads), or save it (responders); a refused save shows the
    text again with the reason, so nothing typed is lost."""
    text = request.POST.get("markdown", "")
    try:
        if action == "download":
            return _download(incident, check_markdown(text))
        if not context["can_change"]:
            raise PermissionDenied
        do_save_postmortem(incident, text, request.user, _version(request.POST.get("version")))
    except ServiceError as exc:
        context.update(error=exc.message, markdown=text[:MAX_MARKDOWN], unsaved_draft=True)
        return render(request, TEMPLATE, context, status=exc.status_code)
    return redirect(f"{request.path}?saved=1")

"""Remediation runs (one proposed action, a decision, its execution and verification) and the admin-only
policies that may approve an action without a human or allow a destructive option."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual

from remediation.actions import ACTIONS, action_class
from remediation.commands import OUTPUT_LIMIT

POSTMORTEM_MAX_CHARS = 100_000  # a long postmortem is ~20,000; the bound keeps rows and pages small


def policy_errors(monitor, action: str, allow_flushdb: bool) -> dict[str, str]:
    """What is wrong with a policy for this monitor and action (the API and the admin both ask)."""
    offered = ACTIONS.get(monitor.kind, {})
    if action not in offered:
        return {"action": f"{monitor.kind} monitors offer: {', '.join(offered) or 'none'}."}
    if allow_flushdb and "allow_flushdb" not in action_class(monitor.kind, action).options:
        return {"allow_flushdb": f"{action} has no FLUSHDB option."}
    return {}


class ActionPolicy(models.Model):
    """An admin's decision about one action on one monitor: auto-approve it, allow its destructive option.

    Only admins write policies (the `remediation.manage_actionpolicy` permission, which no built-in role
    below admin has). Without a policy nothing is auto-approved and nothing destructive runs.
    """

    monitor = models.ForeignKey("monitoring.Monitor", on_delete=models.CASCADE, related_name="action_policies")
    action = models.CharField(max_length=50)
    auto_approve = models.BooleanField(default=False)
    allow_flushdb = models.BooleanField(default=False, help_text="clear_redis_cache only: FLUSHDB the monitor's DB")
    set_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    set_by_name = models.CharField(max_length=150, blank=True, default="", help_text="kept if the user is deleted")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["monitor__name", "action"]
        verbose_name_plural = "action policies"
        permissions = [("manage_actionpolicy", "Can set auto-approval and destructive-option policies")]
        constraints = [
            models.UniqueConstraint(fields=["monitor", "action"], name="remediation_actionpolicy_one_per_action"),
        ]

    def __str__(self) -> str:
        return f"policy {self.pk}: {self.action} on {self.monitor_id}"

    def clean(self):
        if self.monitor_id is not None:
            errors = policy_errors(self.monitor, self.action, self.allow_flushdb)
            if errors:
                raise ValidationError(errors)


class RemediationRun(models.Model):
    """proposed → approved → executing → verifying → succeeded | failed; or proposed → rejected.

    At most one run per incident is in flight (proposed … verifying); every run is kept as the audit trail:
    who proposed, who (or which policy) approved, exactly what ran, its exit status, output and duration.
    Every in-flight run has a `deadline_at`; the reaper fails (or resumes) runs past it.
    """

    class Status(models.TextChoices):
        PROPOSED = "proposed", "Proposed"
        APPROVED = "approved", "Approved"
        EXECUTING = "executing", "Executing"
        VERIFYING = "verifying", "Verifying"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        REJECTED = "rejected", "Rejected"

    IN_FLIGHT = (Status.PROPOSED, Status.APPROVED, Status.EXECUTING, Status.VERIFYING)

    incident = models.ForeignKey("incidents.Incident", on_delete=models.CASCADE, related_name="remediations")
    monitor = models.ForeignKey("monitoring.Monitor", null=True, blank=True, on_delete=models.SET_NULL)
    action = models.CharField(max_length=50, blank=True, help_text="empty while the analysis is pending")
    rationale = models.TextField(blank=True, default="")
    proposed_by = models.CharField(max_length=10, choices=[("ai", "AI"), ("rules", "Rules")], default="rules")
    proposed_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    model = models.CharField(max_length=100, blank=True, default="")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PROPOSED)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    decided_by_policy = models.ForeignKey(ActionPolicy, null=True, blank=True, on_delete=models.SET_NULL)
    decided_via = models.CharField(
        max_length=60, blank=True, default="", help_text='"policy:<id>" or "expired" when no human decided'
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    argv = models.JSONField(default=list, blank=True, help_text="the command that ran, if any")
    target = models.CharField(max_length=500, blank=True, default="", help_text="redacted")
    exit_status = models.IntegerField(null=True, blank=True)
    output = models.TextField(blank=True, default="", help_text=f"last {OUTPUT_LIMIT} bytes")
    duration_ms = models.FloatField(null=True, blank=True)
    result = models.JSONField(default=dict, blank=True)
    verification = models.JSONField(default=dict, blank=True)
    verify_attempts = models.PositiveSmallIntegerField(default=0)
    verify_until = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("approve_remediationrun", "Can approve or reject remediation runs")]
        constraints = [
            models.UniqueConstraint(
                fields=["incident"], condition=Q(status__in=["proposed", "approved", "executing", "verifying"]),
                name="remediation_remediationrun_one_in_flight",
            ),
        ]  # fmt: skip
        indexes = [
            # Used by reap_runs every 15 s: in-flight runs past their deadline.
            models.Index(
                fields=["deadline_at"], condition=Q(status__in=["proposed", "approved", "executing", "verifying"]),
                name="remediation_run_deadline_idx",
            ),
        ]  # fmt: skip

    def __str__(self) -> str:
        return f"{self.action or 'pending'} for #{self.incident_id} ({self.status})"

    @property
    def decider(self) -> str | None:
        """Who decided, as the API shows it: a username, "policy:<id>", "expired", or None (undecided)."""
        if self.decided_via:
            return self.decided_via
        return self.decided_by.username if self.decided_by_id and self.decided_by else None


class Postmortem(models.Model):
    """The saved postmortem of one incident, in Markdown: first built from the draft (timeline, durations,
    who did what, root cause, actions taken), then edited by responders. `version` grows on every save so a
    second editor's stale copy is refused instead of silently overwriting the first one's work."""

    incident = models.OneToOneField("incidents.Incident", on_delete=models.CASCADE, related_name="postmortem")
    markdown = models.TextField()
    version = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_by_name = models.CharField(max_length=150, blank=True, default="", help_text="kept if the user is deleted")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=LessThanOrEqual(Length("markdown"), POSTMORTEM_MAX_CHARS),
                                   name="remediation_postmortem_markdown_bounded"),
        ]  # fmt: skip

    def __str__(self) -> str:
        return f"postmortem of #{self.incident_id} (v{self.version})"

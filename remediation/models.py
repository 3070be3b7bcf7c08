"""Remediation runs: one proposed action, a human's decision, its execution and verification."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class RemediationRun(models.Model):
    """proposed → approved → executing → verifying → succeeded | failed; or proposed → rejected.

    At most one run per incident is in flight (proposed … verifying); every run is kept as the audit trail.
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
    action = models.CharField(max_length=50)
    rationale = models.TextField(blank=True, default="")
    proposed_by = models.CharField(max_length=10, choices=[("ai", "AI"), ("rules", "Rules")])
    model = models.CharField(max_length=100, blank=True, default="")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PROPOSED)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    decided_at = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(default=dict, blank=True)
    verification = models.JSONField(default=dict, blank=True)
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

    def __str__(self) -> str:
        return f"{self.action} for #{self.incident_id} ({self.status})"

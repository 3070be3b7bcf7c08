from django.contrib import admin

from remediation.models import RemediationRun


@admin.register(RemediationRun)
class RemediationRunAdmin(admin.ModelAdmin):
    list_display = ["id", "incident", "action", "proposed_by", "status", "decided_by", "created_at"]
    list_filter = ["status", "action", "proposed_by"]
    readonly_fields = [f.name for f in RemediationRun._meta.fields]

    def has_add_permission(self, request):
        return False  # runs are proposed from an incident (API or dashboard), so they are analysed first

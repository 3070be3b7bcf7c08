from django.contrib import admin

from remediation.models import ActionPolicy, RemediationRun
from remediation.services import do_save_policy


@admin.register(RemediationRun)
class RemediationRunAdmin(admin.ModelAdmin):
    list_display = ["id", "incident", "action", "proposed_by", "status", "decided_by", "decided_via", "created_at"]
    list_filter = ["status", "action", "proposed_by"]
    readonly_fields = [f.name for f in RemediationRun._meta.fields]

    def has_add_permission(self, request):
        return False  # runs are proposed from an incident (API or dashboard), so they are analysed first


@admin.register(ActionPolicy)
class ActionPolicyAdmin(admin.ModelAdmin):
    list_display = ["id", "monitor", "action", "auto_approve", "allow_flushdb", "set_by_name", "updated_at"]
    list_filter = ["action", "auto_approve", "allow_flushdb"]
    readonly_fields = ["set_by", "set_by_name", "created_at", "updated_at"]

    # Only admins (remediation.manage_actionpolicy) write policies, here as in the API.
    def has_add_permission(self, request):
        return request.user.has_perm("remediation.manage_actionpolicy")

    def has_change_permission(self, request, obj=None):
        return request.user.has_perm("remediation.manage_actionpolicy")

    def has_delete_permission(self, request, obj=None):
        return request.user.has_perm("remediation.manage_actionpolicy")

    def save_model(self, request, obj, form, change):
        do_save_policy(obj, {}, actor=request.user)

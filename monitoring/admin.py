from django import forms
from django.contrib import admin, messages
from rest_framework.exceptions import ValidationError as ApiValidationError

from monitoring import services
from monitoring.checkers import KINDS, checker_class
from monitoring.models import CheckIn, CheckResult, Host, Monitor
from opsassist.lib import outbound
from opsassist.lib.exceptions import flatten_errors


@admin.action(description="Check selected monitors now", permissions=["change"])
def check_now(modeladmin, request, queryset):
    for monitor in queryset:
        result = services.do_run_check(monitor)
        modeladmin.message_user(request, f"{monitor.name}: health {result.health}% ({result.status})", messages.INFO)


class MonitorForm(forms.ModelForm):
    """Shows the target with its password redacted; submitting the redacted value keeps the stored one.
    The config is checked against the kind's declared thresholds, as in the API."""

    class Meta:
        model = Monitor
        fields = ["name", "kind", "target", "service", "team", "interval_seconds", "timeout_seconds", "config",
                  "enabled", "drills_allowed", "pinned_host"]  # fmt: skip

    def clean(self):
        data = super().clean()
        kind = data.get("kind")
        if kind in KINDS and "config" in data:
            try:
                data["config"] = checker_class(kind).Config.validate_input(data["config"], self.instance.config)
            except ApiValidationError as exc:
                errors = flatten_errors(exc.detail)
                self.add_error("config", "; ".join(f"{key}: {' '.join(msgs)}" for key, msgs in errors.items()))
        return data

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["target"] = self.instance.safe_target
            self.fields["target"].help_text = "The password is hidden; leave *** in place to keep it."

    def clean_target(self):
        target = self.cleaned_data["target"]
        if "***" not in target:  # a kept target is checked again at every connection
            try:
                outbound.check_url(target)
            except outbound.OutboundRefused as exc:
                raise forms.ValidationError(str(exc)) from None
        return target


@admin.register(Monitor)
class MonitorAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "safe_target", "service", "health", "status", "last_checked_at", "enabled"]
    list_filter = ["kind", "status", "enabled"]
    search_fields = ["name", "service", "team"]
    readonly_fields = ["health", "status", "metrics", "last_error", "last_checked_at", "next_check_at"]
    actions = [check_now]

    form = MonitorForm

    def get_changeform_initial_data(self, request):
        return {"interval_seconds": 5}

    def save_model(self, request, obj, form, change):
        if change and "***" in obj.target:
            obj.target = Monitor.objects.get(pk=obj.pk).target
        super().save_model(request, obj, form, change)


@admin.register(CheckResult)
class CheckResultAdmin(admin.ModelAdmin):
    list_display = ["monitor", "at", "health", "status", "latency_ms", "error"]
    list_filter = ["status", "monitor"]
    date_hierarchy = "at"


@admin.register(Host)
class HostAdmin(admin.ModelAdmin):
    list_display = ["name", "last_seen_at", "silent"]
    readonly_fields = ["last_seen_at", "metrics", "components"]


@admin.register(CheckIn)
class CheckInAdmin(admin.ModelAdmin):
    """Created through the API (which answers the ping URL); the token is never shown here."""

    list_display = ["name", "service", "period_seconds", "grace_seconds", "status", "due_at", "last_ping_at"]
    exclude = ["token"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

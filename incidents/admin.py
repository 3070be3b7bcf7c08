"""Django admin as the triage back office: filter, search, bulk-move incidents through the lifecycle."""

from django.contrib import admin, messages

from incidents import services
from incidents.choices import Status
from incidents.models import Alert, Event, Incident, Integration, MaintenanceWindow, Note, Silence, TimelineEntry
from opsassist.lib.errors import ServiceError


class TimelineInline(admin.TabularInline):
    model = TimelineEntry
    fields = readonly_fields = ("at", "kind", "actor", "text")
    extra = 0
    can_delete = False
    ordering = ["at", "id"]

    def has_add_permission(self, request, obj=None):
        return False


class NoteInline(admin.TabularInline):
    model = Note
    fields = ["created_at", "author", "text"]
    readonly_fields = ["created_at", "author"]
    extra = 1

    def has_change_permission(self, request, obj=None):
        return False


def _bulk_status(modeladmin, request, queryset, status: str) -> None:
    moved, refused = 0, []
    for incident in queryset:
        try:
            services.do_change_status(incident, status, actor=request.user)
            moved += 1
        except ServiceError as exc:
            refused.append(f"#{incident.pk}: {exc.message}")
    if moved:
        modeladmin.message_user(request, f"{moved} incident(s) now {status}.", messages.SUCCESS)
    if refused:
        modeladmin.message_user(request, "Refused — " + "; ".join(refused[:10]), messages.WARNING)


@admin.action(description="Acknowledge selected incidents", permissions=["change"])
def acknowledge(modeladmin, request, queryset):
    _bulk_status(modeladmin, request, queryset, Status.ACKNOWLEDGED)


@admin.action(description="Resolve selected incidents", permissions=["change"])
def resolve(modeladmin, request, queryset):
    _bulk_status(modeladmin, request, queryset, Status.RESOLVED)


@admin.action(description="Close selected incidents", permissions=["change"])
def close(modeladmin, request, queryset):
    _bulk_status(modeladmin, request, queryset, Status.CLOSED)


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "title",
        "service",
        "severity",
        "status",
        "source",
        "assigned_to",
        "event_count",
        "detected_at",
    ]
    list_filter = ["status", "severity", "source", "category", "service"]
    search_fields = ["title", "service", "component", "host", "description", "uuid"]
    list_select_related = ["assigned_to"]
    date_hierarchy = "detected_at"
    actions = [acknowledge, resolve, close]
    inlines = [NoteInline, TimelineInline]
    readonly_fields = [
        "uuid", "source", "source_key", "service", "component", "host", "status", "event_count", "alert_count",
        "first_seen_at", "detected_at", "acknowledged_at", "resolved_at", "closed_at", "ack_seconds",
        "resolve_seconds", "category", "summary", "recommended_actions", "suggested_severity",
    ]  # fmt: skip
    fieldsets = [
        (None, {"fields": ["title", "description", "severity", "status", "assigned_to"]}),
        ("What failed", {"fields": ["source", "source_key", "service", "component", "host", "event_count", "alert_count"]}),
        ("Analysis", {"fields": ["category", "summary", "recommended_actions", "suggested_severity", "root_cause", "resolution_notes"]}),
        ("Times", {"fields": ["first_seen_at", "detected_at", "acknowledged_at", "resolved_at", "closed_at", "ack_seconds", "resolve_seconds"]}),
    ]  # fmt: skip

    def has_add_permission(self, request):
        return False  # incidents are declared through the API or the dashboard (one code path)

    def save_model(self, request, obj, form, change):
        changes = {f: form.cleaned_data[f] for f in form.changed_data if f != "assigned_to"}
        if "assigned_to" in form.changed_data:
            user = form.cleaned_data["assigned_to"]
            changes["assigned_to"] = user.username if user else None
        if changes:
            services.do_update_incident(Incident.objects.get(pk=obj.pk), changes, actor=request.user)

    def save_formset(self, request, form, formset, change):
        if formset.model is not Note:
            return super().save_formset(request, form, formset, change)
        for note in formset.save(commit=False):
            if note.pk is None and note.text.strip():
                services.do_add_note(form.instance, note.text, author=request.user)
        return None


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["timestamp", "service", "level", "message", "host", "incident"]
    list_filter = ["level", "service"]
    search_fields = ["message", "service", "host"]
    raw_id_fields = ["incident"]
    date_hierarchy = "timestamp"


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ["fingerprint", "source", "status", "service", "severity", "summary", "incident", "updated_at"]
    list_filter = ["source", "status", "severity"]
    search_fields = ["fingerprint", "summary", "service"]
    raw_id_fields = ["incident"]


@admin.action(description="Rotate the key of selected integrations (new keys shown once)")
def rotate_keys(modeladmin, request, queryset):
    for integration in queryset:
        key = integration.set_new_key()
        integration.save(update_fields=["key_prefix", "key_hash"])
        modeladmin.message_user(request, f"{integration.name}: new key {key} — copy it now, it is not shown again.",
                                messages.WARNING)  # fmt: skip


@admin.register(Integration)
class IntegrationAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "service", "grouping", "enabled", "key_prefix", "last_used_at"]
    list_filter = ["kind", "enabled"]
    readonly_fields = ["key_prefix", "created_at", "last_used_at"]
    actions = [rotate_keys]

    def save_model(self, request, obj, form, change):
        if not change:
            key = obj.set_new_key()
            self.message_user(request, f"Integration key for {obj.name}: {key} — copy it now, it is not shown again.",
                              messages.WARNING)  # fmt: skip
        super().save_model(request, obj, form, change)


class _ScheduledAdmin(admin.ModelAdmin):
    """Listed and deleted here; created through the API or the maintenance page, which validate them."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(MaintenanceWindow)
class MaintenanceWindowAdmin(_ScheduledAdmin):
    list_display = ["id", "starts_at", "ends_at", "services", "comment", "created_by"]


@admin.register(Silence)
class SilenceAdmin(_ScheduledAdmin):
    list_display = ["id", "matchers", "starts_at", "ends_at", "comment", "created_by"]

from django import forms
from django.contrib import admin
from django.utils import timezone

from oncall.models import (
    ActionLink,
    Channel,
    ContactMethod,
    Escalation,
    EscalationPolicy,
    EscalationStep,
    Layer,
    LayerMember,
    Notification,
    NotificationRule,
    Override,
    Schedule,
    ServiceOwnership,
    SlackMessage,
    Team,
    UserProfile,
)
from opsassist.lib import outbound


class OutboundCheckedForm(forms.ModelForm):
    """Every URL in `config` passes the outbound policy, as in the API."""

    def clean_config(self):
        config = self.cleaned_data.get("config")
        try:
            outbound.check_config_urls(config)
        except outbound.OutboundRefused as exc:
            raise forms.ValidationError(exc.message) from None
        return config


class ServiceOwnershipInline(admin.TabularInline):
    model = ServiceOwnership
    extra = 1


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "is_default"]
    filter_horizontal = ["members"]
    inlines = [ServiceOwnershipInline]


class LayerInline(admin.StackedInline):
    model = Layer
    extra = 0
    show_change_link = True


class OverrideInline(admin.TabularInline):
    model = Override
    extra = 0


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    list_display = ["name", "team", "time_zone"]
    inlines = [LayerInline, OverrideInline]


class LayerMemberInline(admin.TabularInline):
    model = LayerMember
    extra = 1


@admin.register(Layer)
class LayerAdmin(admin.ModelAdmin):
    list_display = ["name", "schedule", "order", "start_date", "handoff_time", "rotation_days"]
    inlines = [LayerMemberInline]


class StepInline(admin.TabularInline):
    model = EscalationStep
    extra = 1


@admin.register(EscalationPolicy)
class EscalationPolicyAdmin(admin.ModelAdmin):
    list_display = ["team", "repeat_count"]
    inlines = [StepInline]


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    form = OutboundCheckedForm
    list_display = ["name", "kind", "team", "enabled", "disabled_reason"]
    list_filter = ["kind", "enabled"]


@admin.register(ContactMethod)
class ContactMethodAdmin(admin.ModelAdmin):
    form = OutboundCheckedForm
    list_display = ["user", "kind", "enabled"]


@admin.register(Escalation)
class EscalationAdmin(admin.ModelAdmin):
    list_display = ["incident", "team", "state", "step_index", "round", "next_at"]
    list_filter = ["state"]
    readonly_fields = [
        "incident",
        "team",
        "steps",
        "repeat_count",
        "step_index",
        "round",
        "state",
        "next_at",
        "started_at",
    ]


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["created_at", "incident", "event", "kind", "recipient", "target", "status", "attempts", "error"]
    list_filter = ["status", "kind", "event"]
    readonly_fields = [f.name for f in Notification._meta.fields]


@admin.register(ActionLink)
class ActionLinkAdmin(admin.ModelAdmin):
    """Links sent in notifications (their tokens are not stored). Revoke those of a leaked message."""

    list_display = ["created_at", "incident", "action", "recipient", "expires_at", "used_at"]
    list_filter = ["action"]
    search_fields = ["recipient", "incident__title"]
    readonly_fields = [f.name for f in ActionLink._meta.fields]
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Revoke (mark used)")
    def revoke(self, request, queryset):
        revoked = queryset.filter(used_at__isnull=True).update(used_at=timezone.now())
        self.message_user(request, f"{revoked} link(s) revoked.")


@admin.register(SlackMessage)
class SlackMessageAdmin(admin.ModelAdmin):
    """Slack messages kept up to date per incident; `error` says why the last update in place failed."""

    list_display = ["incident", "slack_channel", "channel_id", "ts", "posted_at", "updated_at", "error"]
    readonly_fields = [f.name for f in SlackMessage._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


# Calendar-fed schedules: shown for diagnosis (last_error, unmatched people); added through the API, which
# checks the URL against the outbound policy.
from oncall.calendar_models import CalendarSource, ExternalRef  # noqa: E402


@admin.register(CalendarSource)
class CalendarSourceAdmin(admin.ModelAdmin):
    list_display = ["schedule", "role", "fetched_at", "expanded_at", "last_error"]
    readonly_fields = ["schedule", "role", "url", "ics", "fetched_at", "expanded_at", "last_error", "unmatched"]

    def has_add_permission(self, request):
        return False


@admin.register(ExternalRef)
class ExternalRefAdmin(admin.ModelAdmin):
    list_display = ["source", "kind", "external_id", "content_type", "object_id", "imported_at"]
    list_filter = ["source", "kind"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(NotificationRule)
class NotificationRuleAdmin(admin.ModelAdmin):
    list_display = ["user", "delay_minutes", "contact"]
    list_select_related = ["user", "contact"]


@admin.register(UserProfile)
class UserProfileAdmin(admin.ModelAdmin):
    """Time zones; the calendar secret is not shown (its owner rotates it on the profile page)."""

    list_display = ["user", "time_zone"]
    search_fields = ["user__username"]

from django import forms
from django.contrib import admin

from oncall.models import (
    Channel,
    ContactMethod,
    Escalation,
    EscalationPolicy,
    EscalationStep,
    Layer,
    LayerMember,
    Notification,
    Override,
    Schedule,
    ServiceOwnership,
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


@admin.register(UserProfile)
class UserProfileAdmin(admin.ModelAdmin):
    """Time zones; the calendar secret is not shown (its owner rotates it on the profile page)."""

    list_display = ["user", "time_zone"]
    search_fields = ["user__username"]

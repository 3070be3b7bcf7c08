import django_filters
from django import forms
from django.db.models import Q

from incidents.choices import Source, normalize_severity, normalize_status
from incidents.models import Event, Incident
from opsassist.lib.errors import ServiceError


class _StrictBooleanField(forms.NullBooleanField):
    widget = forms.TextInput  # the raw value: the boolean widgets turn anything unknown into "no filter"
    VALUES = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}

    def to_python(self, value):
        if value in (None, ""):
            return None
        if str(value).lower() not in self.VALUES:
            raise forms.ValidationError(f"'{value}' is not true or false.", code="invalid")
        return self.VALUES[str(value).lower()]

    def validate(self, value):
        pass


class StrictBooleanFilter(django_filters.BooleanFilter):
    """`true`/`false` (also 1/0, yes/no); anything else is a 400 naming the parameter, not "no filter"."""

    field_class = _StrictBooleanField


def _csv(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


class IncidentFilterSet(django_filters.FilterSet):
    """`status`, `severity` (comma-separated, any accepted spelling), `service`, `source`, `component`,
    `host`, `assigned_to` (username), `category`, `since`/`until` (detected_at), `q` (title search),
    `flapping`, `in_maintenance`, `silenced` (true/false), `parent_id` (an alert storm's children)."""

    status = django_filters.CharFilter(method="filter_status")
    severity = django_filters.CharFilter(method="filter_severity")
    service = django_filters.CharFilter()
    source = django_filters.ChoiceFilter(choices=Source.choices)
    component = django_filters.CharFilter()
    host = django_filters.CharFilter()
    category = django_filters.CharFilter()
    assigned_to = django_filters.CharFilter(field_name="assigned_to__username")
    since = django_filters.IsoDateTimeFilter(field_name="detected_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="detected_at", lookup_expr="lt")
    q = django_filters.CharFilter(method="filter_q")
    flapping = StrictBooleanFilter()
    in_maintenance = StrictBooleanFilter()
    silenced = StrictBooleanFilter()
    parent_id = django_filters.NumberFilter(field_name="parent_id")

    class Meta:
        model = Incident
        fields: list[str] = []

    def filter_status(self, queryset, name, value):
        statuses = [normalize_status(v) for v in _csv(value)]
        if None in statuses:
            raise ServiceError(f"'{value}' has an unknown status.", field="status")
        return queryset.filter(status__in=statuses)

    def filter_severity(self, queryset, name, value):
        severities = [normalize_severity(v) for v in _csv(value)]
        if None in severities:
            raise ServiceError(f"'{value}' has an unknown severity.", field="severity")
        return queryset.filter(severity__in=severities)

    def filter_q(self, queryset, name, value):
        return queryset.filter(Q(title__icontains=value) | Q(service__icontains=value))


class EventFilterSet(django_filters.FilterSet):
    service = django_filters.CharFilter()
    level = django_filters.CharFilter(method="filter_level")
    host = django_filters.CharFilter()
    incident = django_filters.NumberFilter(field_name="incident_id")
    since = django_filters.IsoDateTimeFilter(field_name="timestamp", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="timestamp", lookup_expr="lt")

    class Meta:
        model = Event
        fields: list[str] = []

    def filter_level(self, queryset, name, value):
        return queryset.filter(level__in=[v.upper() for v in _csv(value)])

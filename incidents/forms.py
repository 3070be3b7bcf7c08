"""Forms of the incident pages."""

from __future__ import annotations

from datetime import UTC

from django import forms


class MaintenanceWindowForm(forms.Form):
    """Schedule a maintenance window from the page. Times are UTC; bounds are checked by the service
    (incidents.noise.do_create_window), like the API's."""

    starts_at = forms.DateTimeField(
        label="Starts (UTC)", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    )  # fmt: skip
    ends_at = forms.DateTimeField(
        label="Ends (UTC)", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    )  # fmt: skip
    services = forms.CharField(max_length=5000, help_text="comma-separated service names")
    comment = forms.CharField(max_length=1000, required=False)

    def clean_starts_at(self):
        return self.cleaned_data["starts_at"].replace(tzinfo=UTC)

    def clean_ends_at(self):
        return self.cleaned_data["ends_at"].replace(tzinfo=UTC)

    def clean_services(self):
        return [name.strip() for name in self.cleaned_data["services"].split(",") if name.strip()]

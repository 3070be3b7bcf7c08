"""Links carried by every notification (placeholder: only "open"; signed action links replace it)."""

from __future__ import annotations

from opsassist.lib.publicurl import absolute_url


def action_links(incident, recipient) -> dict[str, str]:
    """Absolute links for `recipient` about `incident`, keyed by action."""
    return {"open": absolute_url(f"/incidents/{incident.pk}/")}

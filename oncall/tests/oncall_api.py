"""A stand-in for Grafana OnCall's public API (/api/v1/...), shaped as its public API documents: users,
teams, the three schedule types with shifts, rotations and an override, every escalation step type,
integrations with routes, personal notification rules; lists paginated with count / next / results."""

from __future__ import annotations

import copy

ANN, BEN, GHOST = "U4DNY931HHJS5", "UR5SR1YXCUGVS", "UHNAGCMJRKT9Z"
TEAM = "TI73TDU19W48J"
WEB, CALENDAR, ICAL = "SBM7DV7BKFUYU", "SWUWE8EU9EJX2", "S3Z477AHDBTMF"
CHAIN, NIGHT_CHAIN = "FWDL7M6N6I9HE", "FJ6WFN9E8N5IQ"
PROMETHEUS_TOKEN = "mReAoNwDm0eMwKo1mTeTwYo"
ICS = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Grafana Labs//Grafana On-Call//
BEGIN:VEVENT
UID:ical-1
DTSTART:20260101T000000Z
DTEND:20260102T000000Z
RRULE:FREQ=DAILY
SUMMARY:[L1] ann
END:VEVENT
END:VCALENDAR
"""


def _user(id_, email, username, teams):
    return {"id": id_, "grafana_id": hash(id_) % 100, "email": email, "slack": None, "username": username,
            "role": "user", "is_phone_number_verified": False, "timezone": "Europe/Berlin", "teams": teams}  # fmt: skip


def _shift(id_, type_, schedule, **fields):
    base = {"id": id_, "team_id": TEAM, "schedule": schedule, "name": f"{type_} {id_[-3:]}", "type": type_,
            "time_zone": None, "level": 0, "start": "2026-01-05T09:00:00", "duration": 3600,
            "rotation_start": "2026-01-05T09:00:00", "frequency": None, "interval": None, "until": None,
            "week_start": "MO", "by_day": None, "by_month": None, "by_monthday": None, "source": 1}  # fmt: skip
    return {**base, **fields}


def _policy(id_, position, type_, chain=CHAIN, **fields):
    return {"id": id_, "escalation_chain_id": chain, "position": position, "type": type_, **fields}


def _integration(id_, name, type_, base, team_id=TEAM, chain=CHAIN, token=None):
    token = token or f"tok{id_}"
    return {"id": id_, "name": name, "description_short": None, "team_id": team_id,
            "link": f"{base}/integrations/v1/{type_}/{token}/", "inbound_email": None, "type": type_,
            "default_route": {"id": f"R{id_}", "escalation_chain_id": chain, "slack": {"channel_id": None,
                              "enabled": False}, "telegram": {"id": None, "enabled": False}},
            "templates": {"grouping_key": None, "resolve_signal": None}, "heartbeat": {"link": None},
            "maintenance_mode": None, "maintenance_started_at": None, "maintenance_end_at": None}  # fmt: skip


def _route(integration, chain, position, regex=None):
    return {"id": f"R{integration}" if regex is None else f"R{integration}{position}", "integration_id": integration,
            "escalation_chain_id": chain, "routing_type": "regex", "routing_regex": regex or ".*",
            "position": position, "is_the_last_route": regex is None,
            "slack": {"channel_id": None, "enabled": False}, "telegram": {"id": None, "enabled": False}}  # fmt: skip


def resources(base: str) -> dict[str, list[dict]]:
    users = [
        _user(ANN, "ann@example.com", "ann", [TEAM]),
        _user(BEN, "Ben@Example.com", "ben", [TEAM]),
        _user(GHOST, "ghost@elsewhere.example", "ghost", [TEAM]),
    ]
    schedules = [
        {"id": WEB, "team_id": TEAM, "name": "Payments primary", "type": "web", "time_zone": "Europe/Berlin",
         "on_call_now": [ANN], "shifts": ["OH3V5FYQEYJ6M", "O9WTH7CKM3KZW"],
         "slack": {"channel_id": None, "user_group_id": None}},
        {"id": CALENDAR, "team_id": TEAM, "name": "Weekends", "type": "calendar", "time_zone": "UTC",
         "on_call_now": [], "shifts": ["OSE7UHVDCQZ2B", "OQ7X4QXV1MHTX"], "ical_url_overrides": None,
         "enable_web_overrides": False, "slack": {"channel_id": None, "user_group_id": None}},
        {"id": ICAL, "team_id": None, "name": "Legacy iCal", "type": "ical", "ical_url_primary": f"{base}/cal.ics",
         "ical_url_overrides": None, "on_call_now": [], "slack": {"channel_id": None, "user_group_id": None}},
    ]  # fmt: skip
    shifts = [
        _shift("OH3V5FYQEYJ6M", "rolling_users", WEB, time_zone="Europe/Berlin", duration=604800, frequency="weekly",
               interval=1, rolling_users=[[ANN], [BEN], [GHOST]], start_rotation_from_user_index=0),
        _shift("O9WTH7CKM3KZW", "override", WEB, start="2026-01-21T10:00:00", duration=7200, users=[ANN],
               rotation_start="2026-01-21T10:00:00", week_start=None),
        _shift("OSE7UHVDCQZ2B", "recurrent_event", CALENDAR, start="2026-01-03T00:00:00", duration=86400,
               frequency="weekly", interval=1, by_day=["SA", "SU"], users=[ANN], level=1,
               rotation_start="2026-01-03T00:00:00"),
        _shift("OQ7X4QXV1MHTX", "single_event", CALENDAR, start="2026-03-01T00:00:00", duration=86400, users=[BEN],
               level=2, rotation_start="2026-03-01T00:00:00"),
    ]  # fmt: skip
    chains = [{"id": CHAIN, "team_id": TEAM, "name": "Payments chain"},
              {"id": NIGHT_CHAIN, "team_id": TEAM, "name": "Night chain"}]  # fmt: skip
    policies = [
        _policy("E0SCHEDULE001", 0, "notify_on_call_from_schedule", notify_on_call_from_schedule=WEB, important=False),
        _policy("E1WAIT0000001", 1, "wait", duration=900),
        _policy("E2PERSONS0001", 2, "notify_persons", persons_to_notify=[ANN, BEN, GHOST], important=False),
        _policy("E3NEXTEACH001", 3, "notify_person_next_each_time", persons_to_notify_next_each_time=[ANN, BEN]),
        _policy("E4TEAMMEMBER1", 4, "notify_team_members", team_to_notify=TEAM, important=False),
        _policy("E5USERGROUP01", 5, "notify_user_group", group_to_notify="GPFAPH7J7BKJB", important=False),
        _policy("E6WEBHOOK0001", 6, "trigger_webhook", action_to_trigger="KGEFG74LU1D8L"),
        _policy("E7RESOLVE0001", 7, "resolve"),
        _policy("E8WHOLECHAN01", 8, "notify_whole_channel", important=False),
        _policy("E9TIMEFROMTO1", 9, "notify_if_time_from_to", notify_if_time_from="09:00:00Z",
                notify_if_time_to="18:00:00Z"),
        _policy("EANUMALERTS01", 10, "notify_if_num_alerts_in_window", num_alerts_in_window=3,
                num_minutes_in_window=5),
        _policy("EBDECLARE0001", 11, "declare_incident", severity="critical"),
        _policy("ECREPEAT00001", 12, "repeat_escalation"),
        _policy("EN0WAIT000001", 0, "wait", chain=NIGHT_CHAIN, duration=300),
        _policy("EN1PERSONS001", 1, "notify_persons", chain=NIGHT_CHAIN, persons_to_notify=[BEN], important=True),
    ]  # fmt: skip
    integrations = [
        _integration("CFRPV98RPR1U8", "Prometheus", "alertmanager", base, token=PROMETHEUS_TOKEN),
        _integration("CGRAFANA00001", "Grafana", "grafana_alerting", base, chain=NIGHT_CHAIN),
        _integration("CWEBHOOK00001", "Scripts", "webhook", base, team_id=None, chain=None),
        _integration("CZABBIX000001", "Zabbix", "zabbix", base),
    ]
    routes = [
        _route("CFRPV98RPR1U8", CHAIN, 1),
        _route("CFRPV98RPR1U8", NIGHT_CHAIN, 0, regex="us-(east|west)"),
        _route("CGRAFANA00001", NIGHT_CHAIN, 0),
        _route("CWEBHOOK00001", None, 0),
        _route("CZABBIX000001", CHAIN, 0),
    ]
    rules = [
        {"id": "NT79GA9I7E4DJ", "user_id": ANN, "position": 0, "important": False, "type": "notify_by_email"},
        {"id": "NWAIT00000001", "user_id": ANN, "position": 1, "duration": 300, "important": False, "type": "wait"},
        {"id": "NSMS000000001", "user_id": BEN, "position": 0, "important": False, "type": "notify_by_sms"},
    ]  # fmt: skip
    teams = [{"id": TEAM, "grafana_id": 1, "name": "Payments Team", "email": "", "avatar_url": "/avatar/abc"}]
    return {"users": users, "teams": teams, "schedules": schedules, "on_call_shifts": shifts,
            "escalation_chains": chains, "escalation_policies": policies, "integrations": integrations,
            "routes": routes, "personal_notification_rules": rules}  # fmt: skip


def publish(server, data: dict[str, list[dict]], page_size: int = 2) -> None:
    """Serve each list at /api/v1/<name>/ in pages of `page_size` (so most lists span several pages)."""
    server.pages.clear()
    server.pages["/cal.ics"] = (200, ICS)
    for name, items in copy.deepcopy(data).items():
        chunks = [items[i : i + page_size] for i in range(0, len(items), page_size)] or [[]]
        for number, chunk in enumerate(chunks, start=1):
            path = f"/api/v1/{name}/" + (f"?page={number}" if number > 1 else "")
            more = number < len(chunks)
            page = {"count": len(items), "next": f"{server.base}/api/v1/{name}/?page={number + 1}" if more else None,
                    "previous": None, "results": chunk, "current_page_number": number, "page_size": page_size,
                    "total_pages": len(chunks)}  # fmt: skip
            server.pages[path] = (200, page)

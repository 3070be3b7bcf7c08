"""Map a Grafana OnCall set-up (as read from its public API) onto OpsAssist's rows.

What maps to what (docs/migrate-from-grafana-oncall.md says it for users):
- users → the existing user with the same e-mail address (never created: reported instead);
- teams → teams (by name), with the members OnCall lists;
- schedules (web, calendar, iCal) → schedules fed by a calendar: shifts become recurring events, iCal
  URLs are fetched; override shifts → overrides;
- escalation chains → a team's escalation policy; policies → its steps, or reported as skipped;
- integrations → integrations keeping their token (stored hashed) for /integrations/v1/<type>/<token>/;
  the default route's escalation chain → the team owning the integration's service;
- personal notification rules → e-mail contact methods.

Every imported row is remembered in ExternalRef by OnCall's id, so importing again updates it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from incidents.models import Integration
from oncall.calendar_models import CalendarSource, ExternalRef
from oncall.calendars import check_calendar_url, do_expand_source, do_refresh_source
from oncall.models import (
    ContactMethod,
    EscalationPolicy,
    EscalationStep,
    Override,
    Schedule,
    ServiceOwnership,
    Team,
)
from oncall.oncall_import.shifts import calendar_of, local_time, shift_events, zone
from opsassist.lib.errors import ServiceError

if TYPE_CHECKING:
    from django.contrib.auth.models import User

SOURCE = "grafana_oncall"
NO_TEAM = "oncall-no-team"
OVERRIDE_TYPE = "override"
REPEAT_TIMES = 5  # OnCall's "repeat escalation" step repeats the chain up to 5 times
ALERTMANAGER_TYPES = {"alertmanager": "alertmanager", "legacy_alertmanager": "alertmanager",
                      "grafana_alerting": "alertmanager", "legacy_grafana_alerting": "alertmanager",
                      "webhook": "generic", "formatted_webhook": "generic"}  # fmt: skip
TOKEN_RE = re.compile(r"/integrations/v1/[^/]+/([^/?#]+)/?$")
SKIPPED_STEPS = {
    "notify_user_group": "Slack user groups do not exist here; add the people to a step",
    "trigger_webhook": "OnCall's outgoing webhooks are not imported; add a webhook channel to the team",
    "resolve": "escalation cannot resolve an incident here",
    "notify_whole_channel": "Slack channels are not imported; add a Slack-compatible channel to the team",
    "notify_if_time_from_to": "conditional steps do not exist here: the following steps always run",
    "notify_if_num_alerts_in_window": "conditional steps do not exist here: the following steps always run",
    "declare_incident": "Grafana Incident is not part of OpsAssist",
}
RULE_CHANNELS = {"notify_by_sms": "SMS", "notify_by_phone_call": "phone calls", "notify_by_slack": "Slack",
                 "notify_by_telegram": "Telegram", "notify_by_mobile_app": "the OnCall mobile app",
                 "notify_by_mobile_app_critical": "the OnCall mobile app", "notify_by_msteams": "MS Teams"}  # fmt: skip


@dataclass
class Report:
    """What was mapped to what, and what was not (and why)."""

    mapped: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def map(self, kind: str, name: object, target: str) -> None:
        self.mapped.append(f"{kind} {name!r} → {target}")

    def skip(self, kind: str, name: object, why: str) -> None:
        self.skipped.append(f"{kind} {name!r}: {why}")


def do_import(data: dict[str, list[dict]], *, dry_run: bool = False, now=None) -> Report:
    """Import everything in `data` (OnCall's lists by resource) in one transaction; with `dry_run` the
    transaction is rolled back, so the report is exactly what an import would do and nothing changes."""
    report, now = Report(), now or timezone.now()
    with transaction.atomic():
        importer = Importer(data, report, now)
        importer.run()
        if dry_run:
            transaction.set_rollback(True)
    if dry_run:
        for url in importer.urls_to_fetch.values():
            report.mapped.append(f"calendar {url} would be fetched")
        return report
    for source_id, url in importer.urls_to_fetch.items():
        do_refresh_source(source_id, now)
        error = CalendarSource.objects.filter(pk=source_id).values_list("last_error", flat=True).first()
        if error:
            report.skip("calendar", url, f"not fetched yet ({error}); it is fetched again periodically")
    return report


class Importer:
    def __init__(self, data: dict[str, list[dict]], report: Report, now):
        self.data, self.report, self.now = data, report, now
        # Keyed by OnCall's ids as its JSON gives them; a missing id (None) is looked up and not found.
        self.users: dict[object, User] = {}
        self.teams: dict[object, Team] = {}
        self.schedules: dict[object, Schedule] = {}
        self.chain_teams: dict[object, Team] = {}
        self.integrations: dict[object, Integration] = {}
        self.urls_to_fetch: dict[int, str] = {}

    def run(self) -> None:
        self.import_users()
        self.import_teams()
        self.import_schedules()
        self.import_chains()
        self.import_integrations()
        self.import_routes()
        self.import_notification_rules()

    # --- bookkeeping ---------------------------------------------------------------------------------

    def ref(self, kind: str, external_id: str):
        """The row imported before for OnCall's (kind, id), or None."""
        found = ExternalRef.objects.filter(source=SOURCE, kind=kind, external_id=str(external_id)).first()
        return found.target if found is not None else None

    def remember(self, kind: str, external_id: str, row) -> None:
        ExternalRef.objects.update_or_create(
            source=SOURCE, kind=kind, external_id=str(external_id),
            defaults={"content_type": ContentType.objects.get_for_model(row), "object_id": row.pk},
        )  # fmt: skip

    # --- users and teams -----------------------------------------------------------------------------

    def import_users(self) -> None:
        User = get_user_model()  # noqa: N806
        for item in self.data.get("users", []):
            email = str(item.get("email") or "").strip()
            user = User.objects.filter(email__iexact=email, is_active=True).order_by("id").first() if email else None
            if user is None:
                why = f"no active user with e-mail {email or '(none)'} here; add them and import again"
                self.report.skip("user", item.get("username") or item.get("id"), why)
                continue
            self.users[item["id"]] = user
            self.report.map("user", email, f"user {user.username}")

    def team_named(self, name: str) -> Team:
        team, _ = Team.objects.get_or_create(name=name)
        return team

    def import_teams(self) -> None:
        for item in self.data.get("teams", []):
            team = self.ref("team", item["id"])
            if team is None:
                team = self.team_named(slugify(item.get("name") or "")[:100] or f"team-{item['id']}".lower())
                self.remember("team", item["id"], team)
            self.teams[item["id"]] = team
            self.report.map("team", item.get("name"), f"team {team.name}")
        for item in self.data.get("users", []):
            user = self.users.get(item.get("id"))
            for team_id in item.get("teams") or []:
                if user is not None and team_id in self.teams:
                    self.teams[team_id].members.add(user)

    def team_of(self, team_id) -> Team:
        return self.teams.get(team_id) or self.team_named(NO_TEAM)

    # --- schedules -----------------------------------------------------------------------------------

    def import_schedules(self) -> None:
        shifts = {s["id"]: s for s in self.data.get("on_call_shifts", []) if "id" in s}
        for item in self.data.get("schedules", []):
            schedule = self.upsert_schedule(item)
            self.schedules[item["id"]] = schedule
            kind = item.get("type")
            self.report.map("schedule", item.get("name"), f"schedule {schedule} ({kind})")
            if kind == "ical":
                self.calendar_url(schedule, item, "ical_url_primary", CalendarSource.Role.PRIMARY)
            else:
                self.schedule_shifts(schedule, item, [shifts[i] for i in item.get("shifts") or [] if i in shifts])
            self.calendar_url(schedule, item, "ical_url_overrides", CalendarSource.Role.OVERRIDES)

    def upsert_schedule(self, item: dict) -> Schedule:
        team = self.team_of(item.get("team_id"))
        name = str(item.get("name") or item["id"])[:100]
        schedule = self.ref("schedule", item["id"])
        if schedule is None:
            schedule, _ = Schedule.objects.get_or_create(team=team, name=name)
        schedule.team, schedule.name = team, name
        schedule.time_zone = zone(item.get("time_zone")).key
        schedule.save()
        self.remember("schedule", item["id"], schedule)
        return schedule

    def calendar_source(self, schedule: Schedule, external_id: str, role: str) -> CalendarSource:
        source = self.ref("calendar", external_id)
        if source is None:
            source = CalendarSource.objects.create(schedule=schedule, role=role)
            self.remember("calendar", external_id, source)
        return source

    def calendar_url(self, schedule: Schedule, item: dict, name: str, role: str) -> None:
        url = item.get(name)
        if not url:
            return
        try:
            url = check_calendar_url(str(url))
        except ServiceError as exc:
            self.report.skip("schedule", item.get("name"), f"{name} refused: {exc.message}")
            return
        source = self.calendar_source(schedule, f"{item['id']}:{role}", role)
        CalendarSource.objects.filter(pk=source.pk).update(url=url)
        self.urls_to_fetch[source.pk] = url
        self.report.map("schedule", item.get("name"), f"{role} calendar from {url}")

    def schedule_shifts(self, schedule: Schedule, item: dict, shifts: list[dict]) -> None:
        emails = {oncall_id: user.email for oncall_id, user in self.users.items() if user.email}
        events = []
        for shift in shifts:
            if shift.get("type") == OVERRIDE_TYPE:
                self.import_override(schedule, shift)
                continue
            found, notes = shift_events(shift, emails, schedule.time_zone)
            events += found
            for note in notes:
                self.report.skip("shift", shift.get("name") or shift["id"], note)
            if found:
                self.report.map("shift", shift.get("name") or shift["id"], f"{shift.get('type')} in {schedule}")
            missing = {u for g in shift.get("rolling_users") or [] for u in g} | set(shift.get("users") or [])
            for user_id in sorted(missing - set(self.users)):
                self.report.skip(
                    "shift", shift.get("name") or shift["id"], f"user {user_id} is not here: no one in that slot"
                )
        source = self.calendar_source(schedule, f"{item['id']}:shifts", CalendarSource.Role.PRIMARY)
        source.ics = calendar_of(events)
        source.save(update_fields=["ics"])
        do_expand_source(source, self.now)

    def import_override(self, schedule: Schedule, shift: dict) -> None:
        tz = zone(shift.get("time_zone"), schedule.time_zone)
        start = local_time(shift.get("start"), tz)
        seconds = duration if isinstance(duration := shift.get("duration"), int) else 0
        users = [self.users[u] for u in shift.get("users") or [] if u in self.users]
        name = shift.get("name") or shift["id"]
        if start is None or seconds <= 0 or not users:
            self.report.skip("override", name, "no valid start, duration or user here")
            return
        override = self.ref("override", shift["id"]) or Override(schedule=schedule)
        override.schedule, override.user = schedule, users[0]
        override.start, override.end = start, start + timedelta(seconds=seconds)
        override.save()
        self.remember("override", shift["id"], override)
        self.report.map("override", name, f"override {override} in {schedule}")

    # --- escalation ----------------------------------------------------------------------------------

    def import_chains(self) -> None:
        policies: dict[object, list[dict]] = {}
        for policy in self.data.get("escalation_policies", []):
            policies.setdefault(policy.get("escalation_chain_id"), []).append(policy)
        claimed: set[int] = set()
        for chain in self.data.get("escalation_chains", []):
            team = self.chain_team(chain, claimed)
            claimed.add(team.pk)
            self.chain_teams[chain["id"]] = team
            steps = sorted(policies.get(chain["id"], []), key=lambda p: p.get("position") or 0)
            self.import_policy(chain, team, steps)

    def chain_team(self, chain: dict, claimed: set[int]) -> Team:
        """The chain's team; a second chain of a team (here a team has one policy) gets a team of its own."""
        team = self.ref("chain_team", chain["id"])
        if team is None:
            team = self.teams.get(chain.get("team_id"))
            if team is None or team.pk in claimed:
                base = slugify(chain.get("name") or "")[:90] or f"chain-{chain['id']}".lower()
                team = self.team_named(base if team is None else f"{team.name}-{base}"[:100])
                if chain.get("team_id") in self.teams:
                    team.members.add(*self.teams[chain["team_id"]].members.all())
            self.remember("chain_team", chain["id"], team)
        return team

    def import_policy(self, chain: dict, team: Team, policies: list[dict]) -> None:
        policy, _ = EscalationPolicy.objects.get_or_create(team=team)
        if self.ref("escalation_chain", chain["id"]) is None and policy.steps.exists():
            why = f"team {team.name} had a policy of its own: its {policy.steps.count()} steps are replaced"
            self.report.skip("escalation chain", chain.get("name"), why)
        policy.repeat_count = 0
        policy.steps.all().delete()
        steps: list[dict] = []
        for item in policies:
            if self.add_step(chain, item, steps, policy):
                break
        for position, step in enumerate(steps):
            wait = step.pop("wait", None) or (1 if position < len(steps) - 1 else None)
            EscalationStep.objects.create(policy=policy, position=position, wait_minutes=wait, **step)
        policy.save()
        self.remember("escalation_chain", chain["id"], policy)
        self.report.map("escalation chain", chain.get("name"),
                        f"policy of team {team.name} ({len(steps)} steps, repeat {policy.repeat_count})")  # fmt: skip

    def add_step(self, chain: dict, item: dict, steps: list[dict], policy: EscalationPolicy) -> bool:
        """Append the steps one OnCall policy means; True when the chain stops there."""
        kind, label = item.get("type"), f"{chain.get('name')} step {item.get('position')}"
        if kind == "wait":
            seconds = duration if isinstance(duration := item.get("duration"), int) else 0
            if steps:
                steps[-1]["wait"] = min(max(1, math.ceil(seconds / 60)), 32767)
            else:
                self.report.skip("escalation step", label, "a wait before anyone is notified is dropped")
        elif kind == "notify_on_call_from_schedule":
            schedule = self.schedules.get(item.get("notify_on_call_from_schedule"))
            if schedule is None:
                self.report.skip("escalation step", label, "its schedule was not imported")
            else:
                steps.append({"schedule": schedule})
        elif kind in ("notify_persons", "notify_person_next_each_time", "notify_team_members"):
            self.add_people_steps(kind, item, steps, label)
        elif kind == "repeat_escalation":
            policy.repeat_count = REPEAT_TIMES
            return True
        else:
            self.report.skip("escalation step", label, SKIPPED_STEPS.get(str(kind), f"unknown step type {kind!r}"))
        return False

    def add_people_steps(self, kind: str, item: dict, steps: list[dict], label: str) -> None:
        if kind == "notify_team_members":
            team = self.teams.get(item.get("team_to_notify"))
            users = list(team.members.order_by("id")) if team else []
        else:
            field_name = "persons_to_notify" if kind == "notify_persons" else "persons_to_notify_next_each_time"
            ids = item.get(field_name) or []
            users = [self.users[i] for i in ids if i in self.users]
            if len(users) < len(ids):
                self.report.skip("escalation step", label, "some of its users are not here")
        if kind == "notify_person_next_each_time" and len(users) > 1:
            self.report.skip("escalation step", label, "round robin is not carried over: the first person is paged")
            users = users[:1]
        if not users:
            self.report.skip("escalation step", label, "nobody to notify here")
        # A step here has one target: several people become steps one minute apart.
        steps.extend({"user": user} for user in users)

    # --- integrations and routes ---------------------------------------------------------------------

    def import_integrations(self) -> None:
        for item in self.data.get("integrations", []):
            kind, name = ALERTMANAGER_TYPES.get(str(item.get("type"))), str(item.get("name") or item["id"])
            token = TOKEN_RE.search(str(item.get("link") or ""))
            if kind is None or token is None:
                self.report.skip("integration", name, f"type {item.get('type')!r} has no compatible URL here")
                continue
            clash = Integration.objects.filter(key_hash=Integration.hash_key(token.group(1)))
            if (previous := self.ref("integration", item["id"])) is not None:
                clash = clash.exclude(pk=previous.pk)
            if clash.exists():
                self.report.skip("integration", name, "its token is already another integration's key here")
                continue
            integration = self.upsert_integration(item, name, kind, token.group(1))
            self.integrations[item["id"]] = integration
            path = f"/integrations/v1/{item['type'].removeprefix('legacy_')}/<token>/"
            self.report.map("integration", name, f"integration {integration.name} at {path} (same token)")

    def upsert_integration(self, item: dict, name: str, kind: str, token: str) -> Integration:
        integration = self.ref("integration", item["id"])
        if integration is None:
            taken = Integration.objects.filter(name=name[:100]).exists()
            integration = Integration(name=(f"{name[:88]} (OnCall)" if taken else name[:100]))
            integration.service = slugify(name)[:255] or f"integration-{item['id']}".lower()
        integration.kind = kind
        integration.key_prefix, integration.key_hash = token[:10], Integration.hash_key(token)
        integration.team = self.team_of(item.get("team_id")).name if item.get("team_id") in self.teams else ""
        integration.save()
        self.remember("integration", item["id"], integration)
        return integration

    def import_routes(self) -> None:
        for route in self.data.get("routes", []):
            integration = self.integrations.get(route.get("integration_id"))
            if integration is None:
                continue
            if not route.get("is_the_last_route"):
                why = "routing on the alert's content is not carried over; the default route applies"
                self.report.skip("route", f"{integration.name}: {route.get('routing_regex')}", why)
                continue
            team = self.chain_teams.get(route.get("escalation_chain_id"))
            team = team or self.teams.get(integration_team_id(self.data, route))
            if team is None:
                self.report.skip("route", integration.name, "no escalation chain: its alerts go to the default team")
                continue
            owner = ServiceOwnership.objects.filter(service=integration.service).select_related("team").first()
            if owner is not None and owner.team != team and self.ref("route", route["id"]) is None:
                why = f"service {integration.service} already belongs to team {owner.team.name}; left as it is"
                self.report.skip("route", integration.name, why)
                continue
            ServiceOwnership.objects.update_or_create(service=integration.service, defaults={"team": team})
            self.remember("route", route["id"], integration)
            self.report.map(
                "route", f"{integration.name} (default)", f"service {integration.service} owned by {team.name}"
            )

    # --- people's notification rules -----------------------------------------------------------------

    def import_notification_rules(self) -> None:
        for rule in self.data.get("personal_notification_rules", []):
            user, kind = self.users.get(rule.get("user_id")), rule.get("type")
            if user is None:
                continue
            if kind == "notify_by_email" and user.email:
                contact = self.ref("notification_rule", rule["id"])
                if contact is None:
                    contact = ContactMethod.objects.filter(user=user, kind="email").first() or ContactMethod(user=user)
                contact.kind, contact.config, contact.enabled = "email", {"address": user.email}, True
                contact.save()
                self.remember("notification_rule", rule["id"], contact)
                self.report.map("notification rule", f"{user.username}: e-mail", f"e-mail contact {user.email}")
            elif kind != "wait":
                channel = RULE_CHANNELS.get(str(kind), repr(kind))
                self.report.skip("notification rule", f"{user.username}: {kind}", f"{channel} is not a transport here")


def integration_team_id(data: dict, route: dict):
    """The OnCall team of a route's integration."""
    for item in data.get("integrations", []):
        if item.get("id") == route.get("integration_id"):
            return item.get("team_id")
    return None

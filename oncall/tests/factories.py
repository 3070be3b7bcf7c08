from datetime import date, time

from django.contrib.auth import get_user_model

from oncall.models import Layer, LayerMember, Schedule, ServiceOwnership, Team


def user(name):
    return get_user_model().objects.get_or_create(username=name, defaults={"email": f"{name}@example.com"})[0]


def team_with_rotation(name="payments", users=("ann", "ben", "cid"), tz="UTC", start=date(2026, 1, 5),
                       handoff=time(9, 0), days=7, services=("checkout",)):  # fmt: skip
    team = Team.objects.create(name=name)
    people = [user(u) for u in users]
    team.members.set(people)
    for service in services:
        ServiceOwnership.objects.create(team=team, service=service)
    schedule = Schedule.objects.create(team=team, name="Primary", time_zone=tz)
    layer = Layer.objects.create(schedule=schedule, start_date=start, handoff_time=handoff, rotation_days=days)
    for i, person in enumerate(people):
        LayerMember.objects.create(layer=layer, user=person, position=i)
    return team, schedule, layer

import factory
from django.utils import timezone

from incidents.choices import Source
from incidents.models import Event, Incident


class IncidentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Incident

    title = factory.Sequence(lambda n: f"Incident {n}")
    service = "checkout"
    source = Source.MANUAL
    source_key = factory.Sequence(lambda n: f"key-{n}")
    severity = "high"
    detected_at = factory.LazyFunction(timezone.now)


class EventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Event

    service = "checkout"
    level = "ERROR"
    message = factory.Sequence(lambda n: f"Database connection timeout #{n}")
    timestamp = factory.LazyFunction(timezone.now)

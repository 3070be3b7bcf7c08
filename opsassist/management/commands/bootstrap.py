"""Create (or reuse) the admin user and its API token; print them once, keep them in var/."""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from rest_framework.authtoken.models import Token


def _write_private(name: str, value: str) -> str:
    path = settings.VAR_DIR / name
    path.write_text(value + "\n")
    path.chmod(0o600)
    return str(path)


class Command(BaseCommand):
    help = "Create the admin user and API token if missing (idempotent)."

    @transaction.atomic
    def handle(self, *args, **options):
        user_model = get_user_model()
        username = settings.OPSASSIST_ADMIN_USER
        user = user_model.objects.filter(username=username).first()
        if user is None:
            password = settings.OPSASSIST_ADMIN_PASSWORD or secrets.token_urlsafe(12)
            user = user_model.objects.create_superuser(username=username, email="", password=password)
            self.stdout.write(f"Created admin user '{username}'.")
            if not settings.OPSASSIST_ADMIN_PASSWORD:
                path = _write_private("admin-password", password)
                self.stdout.write(f"  password: {password}   (also in {path})")
        elif settings.OPSASSIST_ADMIN_PASSWORD and not user.check_password(settings.OPSASSIST_ADMIN_PASSWORD):
            user.set_password(settings.OPSASSIST_ADMIN_PASSWORD)
            user.save(update_fields=["password"])
            self.stdout.write(f"Updated the password of '{username}' from OPSASSIST_ADMIN_PASSWORD.")
        else:
            self.stdout.write(f"Admin user '{username}' exists.")

        token, created = Token.objects.get_or_create(user=user)
        path = _write_private("admin-token", token.key)
        if created:
            self.stdout.write(f"  API token: {token.key}   (also in {path})")
        else:
            self.stdout.write(f"  API token: in {path}")

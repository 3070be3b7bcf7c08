import pytest
from django.core.management import call_command
from rest_framework.authtoken.models import Token

pytestmark = pytest.mark.django_db


def test_it_creates_the_admin_and_token_once(settings, tmp_path, capsys):
    settings.VAR_DIR = tmp_path
    call_command("bootstrap")
    first = (tmp_path / "admin-token").read_text().strip()
    assert "API token: " + first in capsys.readouterr().out
    assert (tmp_path / "admin-password").exists()

    call_command("bootstrap")
    assert (tmp_path / "admin-token").read_text().strip() == first
    assert Token.objects.count() == 1
    assert first not in capsys.readouterr().out  # printed once only


def test_it_honours_the_admin_env(settings, tmp_path, django_user_model):
    settings.VAR_DIR = tmp_path
    settings.OPSASSIST_ADMIN_USER = "root-op"
    settings.OPSASSIST_ADMIN_PASSWORD = "s3cret-pass"
    call_command("bootstrap")
    user = django_user_model.objects.get(username="root-op")
    assert user.is_superuser and user.check_password("s3cret-pass")
    assert not (tmp_path / "admin-password").exists()

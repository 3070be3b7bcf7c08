import pytest
from django.core.exceptions import ImproperlyConfigured

from opsassist.lib.env import env_bool, env_floats, env_int, env_secret


def test_env_bool_accepts_only_true_or_false(monkeypatch):
    monkeypatch.setenv("X_FLAG", "True")
    assert env_bool("X_FLAG") is True
    monkeypatch.setenv("X_FLAG", "false")
    assert env_bool("X_FLAG") is False
    monkeypatch.setenv("X_FLAG", "yes please")
    with pytest.raises(ImproperlyConfigured, match="X_FLAG"):
        env_bool("X_FLAG")


def test_env_int_names_the_variable(monkeypatch):
    monkeypatch.setenv("X_NUM", "five")
    with pytest.raises(ImproperlyConfigured, match="X_NUM"):
        env_int("X_NUM", 1)


def test_env_floats_sorts_buckets(monkeypatch):
    monkeypatch.setenv("X_BUCKETS", "60, 30,120")
    assert env_floats("X_BUCKETS", "") == [30.0, 60.0, 120.0]


def test_env_secret_reads_a_file(monkeypatch, tmp_path):
    secret = tmp_path / "s"
    secret.write_text("hunter2\n")
    monkeypatch.delenv("X_SECRET", raising=False)
    monkeypatch.setenv("X_SECRET_FILE", str(secret))
    assert env_secret("X_SECRET") == "hunter2"


def test_defaults_follow_the_documented_table(settings):
    assert settings.MTTA_BUCKETS == [30, 60, 120, 300, 600, 1800, 3600]
    assert settings.MTTR_BUCKETS == [300, 600, 1800, 3600, 7200, 14400, 28800]
    assert settings.CORRELATION_THRESHOLD == 5
    assert settings.CORRELATION_WINDOW_SECONDS == 300
    assert settings.ESCALATION_TIMEOUT_MINUTES == 5
    assert settings.HEALTH_MEMORY_THRESHOLD == 90.0

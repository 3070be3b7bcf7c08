"""`make up`: migrate, bootstrap the admin, then serve everything until Ctrl-C."""

import os
import sys
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Migrate, create the admin user and token, and run web + worker + beat."

    def handle(self, *args, **options):
        call_command("migrate", interactive=False, verbosity=0)
        call_command("bootstrap")
        for hook in settings.OPSASSIST_UP_HOOKS:
            call_command(hook)
        if settings.EMBEDDED:
            call_command("serve")
            return
        # Service mode: web, worker and beat as child processes; honcho forwards Ctrl-C/SIGTERM to all.
        bin_dir = str(Path(sys.executable).parent)
        env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
        procfile = str(settings.BASE_DIR / "Procfile")
        honcho = str(Path(bin_dir) / "honcho")
        os.chdir(settings.BASE_DIR)
        os.execve(honcho, [honcho, "-f", procfile, "start"], env)  # noqa: S606

"""`make up`: migrate, bootstrap the admin, then serve everything until Ctrl-C."""

import os
import sys
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connections

from opsassist.lib.supervisor import Supervisor, read_procfile


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
        # Service mode: the Procfile's web, worker and beat as supervised children. A crashed child is
        # restarted with back-off while the others keep serving; Ctrl-C/SIGTERM stops them all.
        bin_dir = str(Path(sys.executable).parent)
        env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
        programs = read_procfile(settings.BASE_DIR / "Procfile")
        connections.close_all()  # the supervisor keeps no database connection while it watches
        self.stdout.write(f"Supervising {', '.join(p.name for p in programs)} (Ctrl-C stops them all)")
        self.stdout.flush()
        Supervisor(programs, env=env, cwd=settings.BASE_DIR).run()

from __future__ import annotations

import subprocess
import sys
from argparse import ArgumentParser
from typing import Any

from django.core.management import call_command
from django.core.wsgi import get_wsgi_application
from gunicorn.app.base import BaseApplication

from saebom.core.management.base import SaebomCommand


class _Gunicorn(BaseApplication):
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return get_wsgi_application()


def _start_worker() -> subprocess.Popen[bytes]:
    """One background worker beside the web server, so that web imports run on a single box."""
    return subprocess.Popen([sys.executable, "-m", "saebom.cli", "worker"])


class Command(SaebomCommand):
    help = "Serve Saebom with gunicorn (static files through whitenoise)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--workers", type=int, default=2)
        parser.add_argument("--threads", type=int, default=4)
        parser.add_argument(
            "--no-worker",
            action="store_true",
            help="do not start a background worker (run `saebom worker` separately)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("collectstatic", interactive=False, verbosity=0)
        worker = None if options["no_worker"] else _start_worker()
        self.stdout.write(f"Saebom listening on http://{options['host']}:{options['port']}/")
        _Gunicorn(
            {
                "bind": f"{options['host']}:{options['port']}",
                "workers": options["workers"],
                "threads": options["threads"],
                "accesslog": "-",
                # Paths only: query strings may hold search terms such as names.
                "access_log_format": '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(L)ss',
                "timeout": 60,
            }
        ).run()
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)

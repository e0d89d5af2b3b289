#!/usr/bin/env python
from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leors.settings")
    # Management commands on a developer's checkout run with the demo defaults; the web server
    # (wsgi/asgi) and Celery default to DEBUG off, and a deployment sets DEBUG=false explicitly.
    os.environ.setdefault("DEBUG", "true")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()

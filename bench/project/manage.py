#!/usr/bin/env python
"""The bench project's manage.py; pick the server side with DJANGO_SETTINGS_MODULE.

``benchproject.settings_djws`` (djws) or ``benchproject.settings_channels``
(Django Channels under Daphne or uvicorn).
"""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchproject.settings_djws")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)

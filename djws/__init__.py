"""WebSockets for Django as plain synchronous views, served by gunicorn and gevent.

This module is imported before gevent patches the process (``python -m
djws.server.bootstrap`` imports the package first), so it must stay free of imports:
anything heavier than a version string belongs in a submodule.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]

"""The gunicorn worker, where ``gunicorn -k djws.worker.WebSocketWorker`` finds it.

It lives in :mod:`djws.server.worker`; this short path is the one the docs give.
Like that module, this one imports nothing from Django: gunicorn's arbiter
imports it before any patching.
"""

from .server.worker import WebSocketWorker

__all__ = ["WebSocketWorker"]

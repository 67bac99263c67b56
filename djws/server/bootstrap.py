"""Entry point of a server process: ``python -m djws.server.bootstrap OPTIONS_JSON``.

``runwebsocket`` never serves from its own process, because ``manage.py`` has
already imported Django there, too early for gevent (see :mod:`djws.server.patching`).
It re-executes the interpreter into this module, whose first act is the patch.
"""

from djws.server.patching import patch

patch()

import json  # noqa: E402 - everything else comes after the patch, on purpose
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

from djws import metrics  # noqa: E402
from djws.server.patching import NotPatchedError, ensure_patched  # noqa: E402


def main(argv: list[str]) -> None:
    """Start gunicorn with the options ``runwebsocket`` passed as JSON."""
    config = json.loads(argv[1])
    sys.path[:0] = [p for p in config.pop("sys_path", []) if p not in sys.path]
    try:
        ensure_patched()
    except NotPatchedError as exc:
        sys.exit(f"Error: {exc}")
    from djws.server.app import WebSocketServer

    http = config.pop("http", False)
    static = config.pop("static", False)
    where = config.pop("metrics", None)
    if where:
        # Before the workers import prometheus_client: they all count into this
        # directory, and whoever answers adds the files up.
        os.environ[metrics.ENV] = where
        if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="djws-metrics-")
        config["child_exit"] = lambda server, worker: metrics.mark_dead(worker.pid)
        if not where.startswith("/"):  # an address of their own: this process answers
            try:
                exporter = metrics.serve(where)
            except OSError as exc:
                sys.exit(f"Error: cannot serve metrics on {where}: {exc.strerror or exc}")
            config["post_fork"] = lambda server, worker: exporter.close()
    application = config.pop("application")
    WebSocketServer(config, application=application, http=http, static=static).run()


if __name__ == "__main__":
    main(sys.argv)

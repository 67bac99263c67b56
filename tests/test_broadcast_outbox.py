"""The outbox of a process that only publishes: a script's commit before runwebsocket runs.

With ``local://``, a process that is not the server (a script, ``manage.py
shell``, a Celery worker) publishes through ``runwebsocket``'s socket. A
transaction that commits while no ``runwebsocket`` runs cannot raise to its
code any more: its message is kept in the script's outbox, a warning says so,
and it reaches the server once one runs.
"""

from __future__ import annotations

import subprocess
import sys

from .support import PROJECT, ask_json, join, project_env, run_server

#: Commits a Note and a message to GROUP, then waits (30 s at most) for the outbox to empty.
SCRIPT = r"""
import sys, time
import django
django.setup()
from django.db import transaction
from djws import broadcast
from djws.broadcast.outbox import outbox
from testproject.models import Note
with transaction.atomic():
    Note.objects.create(text="outbox")
    broadcast.publish(sys.argv[1], "kept until runwebsocket runs")
print("committed, kept", len(outbox), flush=True)
sys.stdin.readline()  # the test started runwebsocket
deadline = time.monotonic() + 30
while len(outbox) and time.monotonic() < deadline:
    time.sleep(0.05)
print("kept", len(outbox), flush=True)
"""


def test_a_scripts_commit_reaches_runwebsocket_once_it_runs() -> None:
    env = project_env(
        DJWS_TEST_BROADCAST_URL="local://", DJANGO_SETTINGS_MODULE="testproject.settings"
    )
    script = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, "o-script"],
        cwd=PROJECT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert script.stdout is not None
        assert script.stdin is not None
        assert script.stdout.readline() == "committed, kept 1\n"
        with run_server(env={"DJWS_TEST_BROADCAST_URL": "local://"}) as server:
            script.stdin.write("go\n")
            script.stdin.flush()
            assert script.stdout.readline() == "kept 0\n"
            with join(server, "o-script") as ws:
                history = ask_json(ws, "history")
            assert [data for _position, data in history["messages"]] == [
                "kept until runwebsocket runs"
            ]
        _out, err = script.communicate(timeout=30)
    finally:
        if script.poll() is None:
            script.kill()
            script.communicate()
    assert script.returncode == 0, err
    assert (
        "Could not publish to group 'o-script' after its transaction committed (could not "
        "publish to 'o-script': no runwebsocket server is running for this project"
    ) in err, err
    assert "Broadcast outbox: 1 committed messages were published late" in err, err

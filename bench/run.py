#!/usr/bin/env python3
"""Run the djws benchmarks, side by side with raw gevent-websocket and Django Channels.

One command sets up what it needs (``bench/.venvs/``) and runs every scenario
against every server, back to back, on this machine::

    bench/run.sh              # 3 repetitions (about 25 minutes on 2 cores)
    bench/run.sh --quick      # 1 short repetition (a few minutes): a smoke test

Results (JSON, a Markdown table, PNG plots) go to ``bench/results/<timestamp>/``.
See ``bench/README.md`` for what each scenario measures and how to read the output.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
import traceback
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import contextlib

import report
from servers import (
    BENCH,
    ENVS,
    NODE,
    REPO,
    TARGETS,
    TMP,
    VENVS,
    Server,
    Target,
    broadcast_cleanup,
    child_setup,
    djws_storm_command,
    free_port,
    log,
    prepare_database,
    server_env,
    venv_bin,
)

LOADCLIENT = BENCH / "loadclient.py"


# -- setup ------------------------------------------------------------------------------


def ensure_venv(name: str, force: bool = False) -> None:
    """Create ``bench/.venvs/<name>`` and install its packages, unless already done."""
    path = VENVS / name
    stamp = path / ".bench-requirements"
    wanted = "\n".join(ENVS[name])
    if name == "djws":  # reinstall when djws's own requirements change
        for meta_file in ("setup.cfg", "pyproject.toml", "setup.py"):
            if (REPO / meta_file).exists():
                digest = hashlib.sha256((REPO / meta_file).read_bytes()).hexdigest()[:16]
                wanted += f"\n# {meta_file} {digest}"
    if not force and stamp.exists() and stamp.read_text() == wanted:
        return
    log(f"setting up virtualenv {path} ({' '.join(ENVS[name])})")
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, timeout=300)
    pip = [venv_bin(name, "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    logfile = VENVS / f"{name}-pip.log"
    with open(logfile, "wb") as out:
        proc = subprocess.run(
            [*pip, *ENVS[name]], stdout=out, stderr=subprocess.STDOUT, timeout=1800, check=False
        )
    if proc.returncode:
        tail = logfile.read_text(errors="replace").splitlines()[-20:]
        raise RuntimeError(f"pip install failed for {name}; see {logfile}:\n" + "\n".join(tail))
    stamp.write_text(wanted)


def ensure_node(force: bool = False) -> None:
    """Install the Node.js peer's packages (``npm ci``: exactly its lockfile), unless done."""
    lock = NODE / "package-lock.json"
    stamp = NODE / "node_modules" / ".bench-lock"
    wanted = hashlib.sha256(lock.read_bytes()).hexdigest()
    if not force and stamp.exists() and stamp.read_text() == wanted:
        return
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise RuntimeError("the ws peer needs Node.js and npm (Debian: apt-get install nodejs npm)")
    log(f"installing the Node.js peer's packages in {NODE} (npm ci)")
    subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
        cwd=NODE,
        check=True,
        timeout=600,
        stdout=subprocess.DEVNULL,
    )
    stamp.write_text(wanted)


def node_versions() -> list[str]:
    """Node.js's version and the ws library's, as the peer runs them."""
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False)
    lock = json.loads((NODE / "package-lock.json").read_text())
    ws = lock["packages"]["node_modules/ws"]["version"]
    return [f"node=={node.stdout.strip().lstrip('v')}", f"ws=={ws}"]


def pip_freeze(name: str) -> list[str]:
    """The exact package versions in a bench venv (for ``node``: Node.js's and ws's)."""
    if name == "node":
        return node_versions()
    try:
        out = subprocess.run(
            [
                venv_bin(name, "python"),
                "-m",
                "pip",
                "freeze",
                "--all",
                "--disable-pip-version-check",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except OSError:
        return []
    return [line for line in out.stdout.splitlines() if line and not line.startswith("#")]


def git_state() -> dict[str, Any]:
    """The commit of the repository being measured (read-only git queries)."""

    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", "-C", str(REPO), *args],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            ).stdout.strip()
        except OSError:
            return ""

    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}


def machine_info() -> dict[str, Any]:
    """What this machine is."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    with contextlib.suppress(OSError, IndexError):
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split(":", 1)[1].strip()
    return {
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory": mem,
        "nofile_limit": __import__("resource").getrlimit(__import__("resource").RLIMIT_NOFILE),
    }


def machine_busy_percent(seconds: float = 2.0) -> float:
    """How busy the machine is before we start, in percent of one core."""

    def busy() -> float:
        with open("/proc/stat") as handle:
            fields = [int(x) for x in handle.readline().split()[1:]]
        return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")

    before = busy()
    time.sleep(seconds)
    return round(100.0 * (busy() - before) / seconds, 1)


def djws_broadcast_available() -> str | None:
    """None when djws has its broadcast API; otherwise why not."""
    code = (
        "import djws.broadcast as b, sys; "
        "sys.exit(0 if callable(getattr(b, 'publish', None)) else 3)"
    )
    proc = subprocess.run(
        [venv_bin("djws", "python"), "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if proc.returncode == 0:
        return None
    last = (proc.stderr.strip().splitlines() or ["djws.broadcast.publish is missing"])[-1]
    return f"djws broadcast API not available yet ({last})"


# -- the plan ---------------------------------------------------------------------------


def build_cases(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The scenarios to run, with their client parameters."""
    cases: list[dict[str, Any]] = []
    if "echo" in args.scenarios:
        cases.append(
            {
                "case": "echo",
                "scenario": "echo",
                "client": {
                    "connections": 100,
                    "size": 64,
                    "warmup": args.warmup,
                    "duration": args.duration,
                },
            }
        )
    if "flood" in args.scenarios:
        cases.append(
            {
                "case": "flood",
                "scenario": "flood",
                "path": "/echo",
                "client": {"others": 50, "rate": 2.0, "duration": args.duration},
            }
        )
    if "handshake" in args.scenarios:
        cases.append(
            {
                "case": "handshake",
                "scenario": "handshake",
                "path": "/whoami",
                "auth": True,
                "client": {"concurrency": 50, "warmup": args.warmup, "duration": args.duration},
            }
        )
        cases.append(
            {
                "case": "handshake-anon",
                "scenario": "handshake",
                "path": "/whoami",
                "anonymous": True,
                "client": {"concurrency": 50, "warmup": args.warmup, "duration": args.duration},
            }
        )
    if "django" in args.scenarios:
        for case, auth in (("django", True), ("django-anon", False)):
            cases.append(
                {
                    "case": case,
                    "scenario": "django",
                    "only": "djws",
                    "auth": auth,
                    "client": {"requests": 1000 if args.quick else 3000, "rounds": 5},
                }
            )
    if "idle" in args.scenarios:
        cases.append(
            {
                "case": "idle",
                "scenario": "idle",
                "path": "/whoami",
                "auth": True,
                "client": {
                    "connections": args.idle_connections,
                    "concurrency": 50,
                    "settle": 2.0,
                    "open_timeout": 150.0,
                    "answer_timeout": 30.0,
                },
            }
        )
        cases.append(
            {
                "case": "idle-anon",
                "scenario": "idle",
                "path": "/whoami",
                "anonymous": True,
                "client": {
                    "connections": args.idle_connections,
                    "concurrency": 50,
                    "settle": 2.0,
                    "open_timeout": 150.0,
                    "answer_timeout": 30.0,
                },
            }
        )
    if "broadcast" in args.scenarios:
        for subscribers in args.broadcast_subscribers:
            client = {
                "subscribers": subscribers,
                "concurrency": 50,
                "rate": 10.0,
                "duration": args.broadcast_duration,
                "drain": args.drain,
                "size": 64,
                "open_timeout": 300.0,
            }
            cases.append(
                {
                    "case": f"broadcast-{subscribers}",
                    "scenario": "broadcast",
                    "path": "/sub",
                    "client": client,
                }
            )
            if args.broadcast_url:  # djws across processes: the backend, with its history
                cases.append(
                    {
                        "case": f"broadcast-{backend_name(args.broadcast_url)}-{subscribers}",
                        "scenario": "broadcast",
                        "path": "/sub",
                        "only": "djws",
                        "broadcast_url": args.broadcast_url,
                        "client": client,
                    }
                )
    if "storm" in args.scenarios:
        cases.append(
            {
                "case": "storm",
                "scenario": "storm",
                "path": "/storm/",
                "only": "djws",
                "client": {
                    "connections": args.storm_connections,
                    "groups": args.storm_groups,
                    "concurrency": 100,
                    "steady": 2.0,
                    "after": 1.0,
                    "drain": 20.0,
                    "storm_timeout": 120.0,
                    "open_timeout": 300.0,
                    "policy": args.storm_policy,
                },
            }
        )
    if "resume" in args.scenarios:
        cases.append(
            {
                "case": "resume",
                "scenario": "resume",
                "path": "/storm/",
                "only": "djws",
                "na": "no equivalent: nothing else resumes a group from a position "
                "(djws-since) out of a server-side history",
                "client": {
                    "connections": args.resume_connections,
                    "groups": args.resume_groups,
                    "messages": args.resume_messages,
                    "concurrency": args.resume_concurrency,
                    "reload_path": "/reload/",
                    "size": 64,
                    "open_timeout": 120.0,
                    "phase_timeout": 120.0,
                    "fill_timeout": 120.0,
                },
            }
        )
    if "render" in args.scenarios:
        cases.append(
            {
                "case": "render",
                "scenario": "render",
                "path": "/render/sub",
                "only": "djws",
                "na": "no equivalent: nothing else renders a broadcast for each member's user",
                "client": {
                    "members": args.render_members,
                    "rate": 10.0,
                    "duration": args.broadcast_duration,
                    "drain": args.drain,
                    "concurrency": 50,
                    "open_timeout": 300.0,
                },
            }
        )
    return cases


def backend_name(url: str) -> str:
    """``redis`` for ``redis://``, ``rediss://`` or ``redis+sentinel://``; ``postgresql``
    for ``postgres://`` or ``postgresql://``; otherwise the URL's scheme."""
    scheme = url.partition("://")[0]
    if scheme.startswith("redis"):
        return "redis"
    return "postgresql" if scheme.startswith("postgres") else scheme


def render_sessions(target: Target, db: Path | None, users: int) -> list[str]:
    """Create the render scenario's users and their sessions; return the session keys."""
    out = subprocess.run(
        [venv_bin(target.venv, "python"), "manage.py", "benchsession", "--users", str(users)],
        cwd=target.cwd,
        env=server_env(target, db),
        check=True,
        timeout=120,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-users:]


def resume_fill(target: Target, db: Path | None) -> dict[str, Any]:
    """How the resume scenario's client runs ``manage.py benchfill`` (the djws venv)."""
    return {
        "argv": [venv_bin("djws", "python"), "manage.py", "benchfill"],
        "cwd": str(target.cwd),
        "env": {
            "DJANGO_SETTINGS_MODULE": target.settings or "",
            "BENCH_DB": str(db),
            "PYTHONUNBUFFERED": "1",
        },
    }


def storm_setup(
    case: dict[str, Any], target: Target, args: argparse.Namespace, db: Path | None
) -> tuple[Target, dict[str, str], dict[str, Any]]:
    """The reconnect storm's server (two workers, Redis or PostgreSQL between them) and
    its publisher process."""
    env = {
        "BENCH_BROADCAST_URL": args.storm_broadcast,
        "BENCH_BROADCAST_PREFIX": f"djws-bench-{uuid.uuid4().hex[:10]}",
    }
    publisher = {
        "argv": [
            venv_bin("djws", "python"),
            "manage.py",
            "benchpublish",
            "--groups",
            str(case["client"]["groups"]),
            "--rate",
            str(args.storm_rate),
        ],
        "cwd": str(target.cwd),
        "env": {
            **env,
            "DJANGO_SETTINGS_MODULE": target.settings or "",
            "BENCH_DB": str(db),
            "PYTHONUNBUFFERED": "1",
        },
    }
    return replace(target, command=djws_storm_command(args.storm_backlog)), env, publisher


def client_budget(cfg: dict[str, Any]) -> float:
    """An upper bound on one client run's wall time."""
    return (
        cfg.get("warmup", 0)
        + cfg.get("duration", 0)
        + cfg.get("open_timeout", 60)
        + cfg.get("drain", 0)
        + cfg.get("answer_timeout", 0)
        + 2 * cfg.get("phase_timeout", 0)  # resume: the resume and the reload
        + 2 * cfg.get("fill_timeout", 0)
        + 120.0
    )


def run_json(
    argv: list[str], what: str, log_path: Path, cpu: int | None, timeout: float, **kwargs: Any
) -> dict[str, Any]:
    """Run ``argv`` (on core ``cpu``, or on every core when None), its stderr to
    ``log_path``; return the JSON object it printed last, or why there is none."""
    with open(log_path, "ab") as logfile:
        try:
            proc = subprocess.run(
                argv,
                stdout=subprocess.PIPE,
                stderr=logfile,
                preexec_fn=child_setup(cpu),
                timeout=timeout,
                check=False,
                **kwargs,
            )
        except subprocess.TimeoutExpired:
            return {"ok": False, "error": f"{what} timed out after {timeout}s"}
    if proc.returncode != 0:
        return {"ok": False, "error": f"{what} exited with {proc.returncode}; see {log_path}"}
    try:
        return json.loads(proc.stdout.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"ok": False, "error": f"{what} printed no result"}


def run_client(cfg: dict[str, Any], log_path: Path) -> dict[str, Any]:
    """Run the load client once (on the client core, or on every core when ``cfg["cpu"]``
    is None); return its JSON result."""
    argv = [sys.executable, str(LOADCLIENT), json.dumps(cfg)]
    return run_json(argv, "load client", log_path, cfg.get("cpu"), client_budget(cfg))


def run_django_cost(
    case: dict[str, Any], target: Target, rep: int, cpu: int | None, session: str, logs: Path
) -> dict[str, Any]:
    """Django's own work per request, in-process on the server core (bench/djangocost.py)."""
    db = TMP / f"{target.venv}.sqlite3"
    cfg = dict(case["client"])
    if case["auth"]:
        cfg["cookie"], cfg["expect_user"] = session, "bench"
    else:
        cfg["expect_user"] = "anonymous"
    argv = [venv_bin(target.venv, "python"), str(BENCH / "djangocost.py"), json.dumps(cfg)]
    log_path = logs / "djangocost.log"
    env = server_env(target, db)
    result = run_json(argv, "djangocost.py", log_path, cpu, 600, cwd=target.cwd, env=env)
    log(f"  {case['case']:<15} {target.name:<13} rep {rep}: {report.one_line(case, result)}")
    return {
        "case": case["case"],
        "scenario": case["scenario"],
        "server": target.name,
        "target": target.name,
        "repetition": rep,
        "client_config": cfg,
        "client_command": shlex.join(["python", "bench/djangocost.py", json.dumps(cfg)]),
        "result": result,
    }


def run_case(
    case: dict[str, Any],
    target: Target,
    rep: int,
    args: argparse.Namespace,
    sessions: dict[str, str],
    logs: Path,
) -> list[dict[str, Any]]:
    """Start ``target``, run ``case`` on it (every variant), stop it. One record each."""
    db = TMP / f"{target.venv}.sqlite3" if target.django else None
    port = free_port()
    extra_env: dict[str, str] = {}
    publisher: dict[str, Any] | None = None
    server_cpu, client_cpu = args.server_cpu, args.client_cpu
    if case["scenario"] == "storm":
        # Two workers and the client share both cores: nothing is pinned.
        target, extra_env, publisher = storm_setup(case, target, args, db)
        server_cpu = client_cpu = None
    elif "broadcast_url" in case:
        extra_env = {
            "BENCH_BROADCAST_URL": case["broadcast_url"],
            "BENCH_BROADCAST_PREFIX": f"djws-bench-{uuid.uuid4().hex[:10]}",
        }
    server = Server(target, port, logs / f"{target.name}.log", db, server_cpu, extra_env)
    records: list[dict[str, Any]] = []
    variants = target.variants if case["scenario"] == "echo" else {target.name: case["path"]}
    base = {
        "case": case["case"],
        "scenario": case["scenario"],
        "server": target.name,
        "repetition": rep,
        "server_command": shlex.join(server.argv),
        "server_cwd": str(target.cwd.relative_to(REPO)),
    }
    try:
        server.start()
        for name, path in variants.items():
            cfg = {
                "scenario": case["scenario"],
                "port": port,
                "path": path,
                "server_pid": server.pid,
                "cpu": client_cpu,
                **case["client"],
            }
            if publisher is not None:
                cfg["publisher"] = publisher
            if case["scenario"] == "resume":
                cfg["fill"] = resume_fill(target, db)
            if case["scenario"] == "render":
                cfg["cookies"] = render_sessions(target, db, args.render_users)
            if case.get("auth"):
                cfg["cookie"] = sessions.get(target.venv, "no-session-on-this-server")
                cfg["expect_user"] = "bench" if target.django else None
            if case.get("anonymous"):  # no cookie: the session and user lookups find nothing
                cfg["expect_user"] = "anonymous" if target.django else None
            started = time.monotonic()
            result = run_client(cfg, logs / "client.log")
            result.setdefault("ok", False)
            records.append(
                {
                    **base,
                    "target": name,
                    "client_config": cfg,
                    "client_command": shlex.join(
                        ["python", "bench/loadclient.py", json.dumps(cfg)]
                    ),
                    "wall_s": round(time.monotonic() - started, 2),
                    "result": result,
                }
            )
            log(f"  {case['case']:<15} {name:<13} rep {rep}: {report.one_line(case, result)}")
    except Exception as exc:  # noqa: BLE001 - one failing server must not stop the rest
        log(f"  {case['case']} on {target.name} failed: {exc}")
        names = [n for n in variants if n not in {r["target"] for r in records}]
        for name in names:
            records.append(
                {**base, "target": name, "result": {"ok": False, "error": str(exc)[-2000:]}}
            )
    finally:
        server.stop()
        if "BENCH_BROADCAST_PREFIX" in extra_env:
            prefix = extra_env["BENCH_BROADCAST_PREFIX"]
            deleted = broadcast_cleanup(extra_env["BENCH_BROADCAST_URL"], prefix)
            log(f"  deleted what the run left under {prefix}: {deleted}")
    return records


# -- main -------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="1 short repetition with smaller counts: a smoke test (~5 min)",
    )
    parser.add_argument("--repetitions", "-r", type=int, help="repetitions (default 3; quick 1)")
    parser.add_argument(
        "--servers",
        default="djws,raw,ws,daphne,uvicorn",
        help="comma-separated: djws,raw,ws,daphne,uvicorn,bare",
    )
    parser.add_argument(
        "--scenarios",
        default="echo,flood,handshake,django,idle,broadcast,storm,resume,render",
        help="comma-separated: echo,flood,handshake,django,idle,broadcast,storm,resume,render",
    )
    parser.add_argument(
        "--idle-connections",
        type=int,
        help="connections held in the idle scenario (default 10000; quick 2000)",
    )
    parser.add_argument(
        "--broadcast-subscribers",
        default="1000,5000",
        help="comma-separated subscriber counts (default 1000,5000)",
    )
    parser.add_argument(
        "--broadcast-url",
        default="redis://127.0.0.1:6379/0",
        help="the backend of djws's broadcast-<backend>-<N> cases, with its history "
        "(default the local Redis; a postgresql:// URL, or '' for none)",
    )
    parser.add_argument(
        "--duration",
        type=float,
        help="measured seconds of echo, handshake and each phase of flood (default 10; quick 3)",
    )
    parser.add_argument("--warmup", type=float, help="warm-up seconds (default 2; quick 1)")
    parser.add_argument(
        "--broadcast-duration",
        type=float,
        help="seconds of publishing at 10 msgs/s (default 10; quick 3)",
    )
    parser.add_argument(
        "--drain",
        type=float,
        help="seconds to wait for late deliveries after the last publish "
        "(default 20; quick 10); what has not arrived then is lost",
    )
    parser.add_argument(
        "--storm-connections",
        type=int,
        help="pages dropped at once in the reconnect storm (default 10000; quick 2000)",
    )
    parser.add_argument(
        "--storm-groups", type=int, default=100, help="groups the storm's pages join"
    )
    parser.add_argument(
        "--storm-rate",
        type=float,
        default=50.0,
        help="messages/s published (in all, round-robin over the groups) during the storm",
    )
    parser.add_argument(
        "--storm-policy",
        choices=["djws.js", "spread-5s"],
        default="djws.js",
        help="reconnection policy of the storm's pages (README: Scenarios, storm)",
    )
    parser.add_argument(
        "--storm-backlog",
        type=int,
        help="runwebsocket --backlog for the storm's server (default runwebsocket's: the "
        "kernel's cap, net.core.somaxconn; the storm's result records the queue applied)",
    )
    parser.add_argument(
        "--storm-broadcast",
        default="redis://127.0.0.1:6379/0",
        metavar="URL",
        help="the broadcast backend of the storm's two workers: Redis, or PostgreSQL "
        "(postgresql://...); what the run writes is under a prefix of its own, deleted after",
    )
    parser.add_argument(
        "--resume-connections",
        type=int,
        help="clients that resume at once in the resume scenario (default 5000; quick 1000)",
    )
    parser.add_argument(
        "--resume-groups", type=int, default=50, help="groups the resume scenario's clients join"
    )
    parser.add_argument(
        "--resume-messages",
        type=int,
        default=100,
        help="messages each resume client misses (per group; the history keeps 1,000)",
    )
    parser.add_argument(
        "--resume-concurrency",
        type=int,
        default=200,
        help="resume clients connected and not yet caught up at a time (default 200)",
    )
    parser.add_argument(
        "--render-members",
        type=int,
        default=1000,
        help="members of the render scenario's group (default 1000)",
    )
    parser.add_argument(
        "--render-users",
        type=int,
        default=10,
        help="distinct users among them, each rendered for (default 10)",
    )
    parser.add_argument("--server-cpu", type=int, default=0, help="core for servers (default 0)")
    parser.add_argument("--client-cpu", type=int, default=1, help="core for the client (default 1)")
    parser.add_argument("--out", type=Path, help="results folder (default bench/results/<time>)")
    parser.add_argument("--skip-setup", action="store_true", help="do not touch the venvs")
    parser.add_argument("--reinstall", action="store_true", help="rebuild the venvs")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    args = parser.parse_args(argv)
    quick = args.quick
    args.repetitions = args.repetitions or (1 if quick else 3)
    args.idle_connections = args.idle_connections or (2000 if quick else 10000)
    args.storm_connections = args.storm_connections or (2000 if quick else 10000)
    args.resume_connections = args.resume_connections or (1000 if quick else 5000)
    args.duration = args.duration or (3.0 if quick else 10.0)
    args.warmup = args.warmup if args.warmup is not None else (1.0 if quick else 2.0)
    args.broadcast_duration = args.broadcast_duration or (3.0 if quick else 10.0)
    args.drain = args.drain or (10.0 if quick else 20.0)
    args.servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    args.broadcast_subscribers = [int(n) for n in args.broadcast_subscribers.split(",") if n]
    unknown = set(args.servers) - set(TARGETS)
    if unknown:
        parser.error(f"unknown servers: {', '.join(sorted(unknown))}")
    if (os.cpu_count() or 1) < 2:
        log("fewer than 2 cores: server and client are not pinned apart")
        args.server_cpu = args.client_cpu = None
    return args


def main(argv: list[str]) -> int:
    """Set up, run every case on every server for every repetition, write the results."""
    args = parse_args(argv)
    started = dt.datetime.now(dt.UTC)
    out = args.out or BENCH / "results" / (
        started.strftime("%Y%m%d-%H%M%S") + ("-quick" if args.quick else "")
    )
    out.mkdir(parents=True, exist_ok=True)
    logs = TMP / "logs" / out.name
    logs.mkdir(parents=True, exist_ok=True)
    if args.client_cpu is not None:
        os.sched_setaffinity(0, {args.client_cpu})

    targets = [TARGETS[name] for name in args.servers]
    needed = sorted({t.venv for t in targets} | ({"plot"} if not args.no_plots else set()))
    if not args.skip_setup:
        for name in needed:
            if name == "node":
                ensure_node(force=args.reinstall)
            else:
                ensure_venv(name, force=args.reinstall)

    sessions: dict[str, str] = {}
    for target in targets:
        if target.django and target.venv not in sessions:
            sessions[target.venv] = prepare_database(target, TMP / f"{target.venv}.sqlite3")
            log(f"{target.venv}: database ready, session {sessions[target.venv][:6]}...")

    pending: dict[str, str] = {}
    if "djws" in args.servers and "broadcast" in args.scenarios:
        reason = djws_broadcast_available()
        if reason:
            pending["broadcast"] = reason
            log(f"djws broadcast: PENDING - {reason}")

    cases = build_cases(args)
    idle_check = machine_busy_percent()
    if idle_check > 10:
        log(
            f"WARNING: the machine is {idle_check}% busy (of one core) before the run: "
            "other processes will compete with the servers"
        )
    meta = {
        "machine_busy_before_percent": idle_check,
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
        "started": started.isoformat(timespec="seconds"),
        "command": shlex.join([sys.executable, *sys.argv]) if sys.argv else "",
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": machine_info(),
        "repository": git_state(),
        "pinning": {"server_cpu": args.server_cpu, "client_cpu": args.client_cpu},
        "targets": {
            t.name: {
                "label": t.label,
                "command": shlex.join(t.command(0)),
                "cwd": str(t.cwd.relative_to(REPO)),
                "venv": t.venv,
            }
            for t in targets
        },
        "packages": {name: pip_freeze(name) for name in needed},
        "pending": pending,
        "logs": str(logs),
    }
    records: list[dict[str, Any]] = []
    try:
        for rep in range(1, args.repetitions + 1):
            for case in cases:
                for target in targets:
                    na = case.get("na")
                    skip = case.get("only", target.name) != target.name
                    if target.only is not None and case["scenario"] not in target.only:
                        skip, na = True, target.na
                    if skip:
                        if na:  # the report says "n/a" for this server
                            records.append(
                                {
                                    "case": case["case"],
                                    "scenario": case["scenario"],
                                    "server": target.name,
                                    "target": target.name,
                                    "repetition": rep,
                                    "result": {"ok": False, "na": True, "error": na},
                                }
                            )
                        continue
                    if target.name == "djws" and case["scenario"] in pending:
                        records.append(
                            {
                                "case": case["case"],
                                "scenario": case["scenario"],
                                "server": "djws",
                                "target": "djws",
                                "repetition": rep,
                                "result": {
                                    "ok": False,
                                    "pending": True,
                                    "error": pending[case["scenario"]],
                                },
                            }
                        )
                        continue
                    if case["scenario"] == "django":
                        session = sessions[target.venv]
                        cpu = args.server_cpu
                        records.append(run_django_cost(case, target, rep, cpu, session, logs))
                    else:
                        records.extend(run_case(case, target, rep, args, sessions, logs))
                    # Partial results survive an interruption.
                    report.write(out, meta, records, plots=False)
    except KeyboardInterrupt:
        log("interrupted: writing what was measured")
    except Exception:  # noqa: BLE001 - keep what was measured
        log("error: writing what was measured\n" + traceback.format_exc())
    meta["finished"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    report.write(out, meta, records, plots=not args.no_plots)
    log(f"results: {out}")
    print((out / "results.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

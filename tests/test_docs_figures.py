"""The benchmark figures in the README and the docs are those of the committed run.

``bench/results/official/results.json`` is what ``bench/run.sh --out
bench/results/official`` measured; every figure the README's table and the
benchmarks page quote is read back from it here, formatted as they print it.
The reconnect storm's figure is from ``bench/results/storm`` (``--scenarios storm``),
what Django's own work leaves from ``bench/results/handshake-floor``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.fast

ROOT = Path(__file__).resolve().parent.parent
RESULTS = json.loads((ROOT / "bench" / "results" / "official" / "results.json").read_text())
SUMMARY: dict[str, Any] = RESULTS["summary"]
STORM = json.loads((ROOT / "bench" / "results" / "storm" / "results.json").read_text())
STORM_PG = json.loads(
    (ROOT / "bench" / "results" / "storm-postgresql" / "results.json").read_text()
)
STORM_SOMAXCONN = json.loads(
    (ROOT / "bench" / "results" / "storm-somaxconn" / "results.json").read_text()
)
STORM_RECENT = json.loads(
    (ROOT / "bench" / "results" / "storm-recent" / "results.json").read_text()
)
FLOOR = json.loads((ROOT / "bench" / "results" / "handshake-floor" / "results.json").read_text())
FLOOD = json.loads((ROOT / "bench" / "results" / "flood" / "results.json").read_text())
GEVENT_FLOOR = json.loads((ROOT / "bench" / "results" / "floor" / "results.json").read_text())


def value(case: str, server: str, key: str) -> float:
    figure = SUMMARY[case][server][key]
    assert isinstance(figure, int | float), (case, server, key, figure)
    return figure


def rate(case: str, server: str, key: str = "handshakes_per_s") -> str:
    return f"{round(value(case, server, key)):,}"


def latency(case: str, server: str) -> str:
    ms = value(case, server, "p99_ms")
    return f"{round(ms)} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def lost(case: str, server: str) -> str:
    missing, delivered = value(case, server, "lost"), value(case, server, "delivered")
    return "0" if missing == 0 else f"{round(100 * missing / (missing + delivered))} %"


def kib(server: str) -> str:
    return f"{round(value('idle', server, 'rss_per_conn_kib'))} KiB"


def table_rows(page: str) -> dict[str, list[str]]:
    """The rows of a page's reStructuredText tables: first cell -> the other cells.

    Cells are separated by two spaces or more, as in a simple table.
    """
    rows = [re.split(r"\s{2,}", line.strip()) for line in page.splitlines() if "  " in line]
    return {row[0]: row[1:] for row in rows}


#: The servers of the committed run, in the order of the README's and the page's columns.
SERVERS = ("djws", "raw", "ws", "daphne", "uvicorn")


def target_row(name: str) -> dict[str, Any]:
    """The committed run's targets table's row for ``name``."""
    found = [row for row in RESULTS["targets"] if row["target"] == name]
    assert len(found) == 1, name
    return found[0]


def target(name: str) -> Any:
    """What the committed run's targets table measured for ``name``."""
    return target_row(name)["measured"]


def listed(values: list[float], spec: str) -> str:
    """``values`` as the pages list them: "7.7, 7.9 and 7.4" (``spec`` formats each)."""
    return ", ".join(format(v, spec) for v in values[:-1]) + f" and {format(values[-1], spec)}"


def readme_rows() -> list[str]:
    """The rows of the README's benchmark table, as the committed run gives them."""
    b5 = "broadcast-5000"

    def row(label: str, cells: list[str]) -> str:
        return f"| {label} | " + " | ".join(cells) + " |"

    return [
        row(
            "echo, 100 connections, messages/s",
            [rate("echo", s, "msgs_per_s") for s in SERVERS],
        ),
        row(
            "echo, messages per server CPU-second",
            [rate("echo", s, "msgs_per_cpu_s") for s in SERVERS],
        ),
        row(
            "handshakes/s, logged-in DB session",
            [rate("handshake", "djws")]
            + [f"{rate('handshake', s)} (no Django)" for s in ("raw", "ws")]
            + [rate("handshake", s) for s in ("daphne", "uvicorn")],
        ),
        row(
            "handshakes/s, no cookie",
            [rate("handshake-anon", "djws")]
            + [f"{rate('handshake-anon', s)} (no Django)" for s in ("raw", "ws")]
            + [rate("handshake-anon", s) for s in ("daphne", "uvicorn")],
        ),
        row(
            "broadcast to 5,000 sockets, p99 / lost",
            [f"{latency(b5, s)} / {lost(b5, s)}" for s in SERVERS],
        ),
        row("RSS per idle connection at 10,000", [kib(s) for s in SERVERS]),
    ]


def target_sentences() -> list[str]:
    """The README's and the benchmarks page's sentences on the goals, from the run's targets."""
    floor = "djws per CPU-second / that floor"
    logged_in = target(f"handshakes/s with a logged-in DB session: {floor}")
    anonymous = target(f"handshakes/s without a cookie: {floor}")
    echo = target("echo messages per server CPU-second, djws / Node.js ws")
    bare = target("echo messages per server CPU-second, djws / bare gevent sockets (the floor)")
    on_redis = value("broadcast-redis-5000", "djws", "p99_ms")
    raw = value("broadcast-5000", "raw", "p99_ms")
    return [
        f"djws did {logged_in:.2f} (logged in) and {anonymous:.2f} (no cookie) of the "
        "handshakes per server CPU-second that Django's own work plus gevent-websocket's allow",
        f"it echoed {echo:.2f} times as many messages per server CPU-second as Node.js's ws "
        f"and {bare:.2f} times as many as bare gevent sockets",
        f"its broadcast through Redis with its history reached 5,000 sockets with a p99 of "
        f"{on_redis:,.0f} ms (raw gevent-websocket in-process, without history: {raw:,.0f} ms)",
    ]


def test_the_readme_table_quotes_the_committed_run() -> None:
    readme = (ROOT / "README.md").read_text()
    for row in readme_rows():
        assert row in readme, f"README.md should have the row\n{row}"
    flat = " ".join(readme.split())
    for sentence in target_sentences():
        assert sentence in flat, f"README.md should say\n{sentence}"


def test_the_readme_quotes_the_storm_and_the_resume_of_the_committed_runs() -> None:
    readme = " ".join((ROOT / "README.md").read_text().split())
    storm = SUMMARY["storm"]["djws"]
    quoted = (
        f"{storm['connections']:,.0f} pages dropped by a restart were back and caught up in "
        f"{storm['all_back_s']:.1f} s (median of three;"
    )
    assert quoted in readme
    assert f"{storm['cpu_ms_per_page']:.2f} ms of worker CPU per page" in readme
    resume, reload = (
        value("resume", "djws", "resume_all_s"),
        value("resume", "djws", "reload_all_s"),
    )
    assert (
        f"caught up in {resume:.1f} s (reloading the rows from the database: {reload:.1f} s)"
        in (readme)
    )


@pytest.mark.parametrize(
    "run",
    [STORM, STORM_SOMAXCONN, STORM_RECENT, STORM_PG],
    ids=["redis", "somaxconn", "recent", "postgresql"],
)
def test_the_committed_storm_runs_are_complete_and_of_a_committed_tree(run: Any) -> None:
    assert not run["meta"]["repository"]["dirty"]
    assert run["meta"]["args"]["repetitions"] == 3
    storm = run["summary"]["storm"]["djws"]
    assert storm["ok_runs"] == 3
    assert storm["gaps_all"] == storm["duplicates_all"] == [0, 0, 0]
    assert storm["failed_attempts_all"] == [0, 0, 0]


def test_the_scaling_howto_quotes_both_storm_runs() -> None:
    page = " ".join((ROOT / "docs" / "howto" / "scaling.rst").read_text().split())
    assert STORM_PG["meta"]["args"]["storm_broadcast"].startswith("postgresql://")
    for name, run in (("storm", STORM), ("storm-postgresql", STORM_PG), ("official", RESULTS)):
        seconds = run["summary"]["storm"]["djws"]["all_back_s_all"]
        quoted = listed(seconds, ".1f")
        assert f"took {quoted} seconds" in page, (name, quoted)
    storm = SUMMARY["storm"]["djws"]
    cpu = storm["cpu_ms_per_page_all"]
    assert f"{min(cpu):.2f} to {max(cpu):.2f} ms of worker CPU per page" in page
    assert f"its workers used {storm['cpu_server_percent']:.0f} % of one core" in page
    assert storm["failed_attempts_all"] == storm["not_recovered_all"] == [0, 0, 0]


def span(values: list[int]) -> str:
    return (
        f"{min(values):,}" if min(values) == max(values) else f"{min(values):,} to {max(values):,}"
    )


def test_the_scaling_howto_quotes_the_listen_queue_of_the_storm_runs() -> None:
    page = " ".join((ROOT / "docs" / "howto" / "scaling.rst").read_text().split())
    default, larger = STORM["summary"]["storm"]["djws"], STORM_SOMAXCONN["summary"]["storm"]["djws"]
    assert default["listen_queue_all"] == [4096] * 3
    assert larger["listen_queue_all"] == [16384] * 3
    assert (
        f"the kernel turned away {span(default['listen_overflows_all'])} attempts per storm" in page
    )
    assert f"and sent {span(default['syn_cookies_all'])} SYN cookies" in page
    assert larger["listen_overflows_all"] == larger["syn_cookies_all"] == [0, 0, 0]
    for storm in (default, larger):
        assert storm["resets_before_101_all"] == [0, 0, 0]
    seconds = larger["all_back_s_all"]
    quoted = listed(seconds, ".1f")
    assert f"but the storm took {quoted} seconds" in page
    for storm in (default, larger):
        cpu = storm["cpu_ms_per_page_all"]
        assert f"{min(cpu):.2f} to {max(cpu):.2f} ms of worker CPU per page" in page


def test_the_scaling_howto_quotes_the_storm_with_resumes_answered_by_the_worker() -> None:
    page = " ".join((ROOT / "docs" / "howto" / "scaling.rst").read_text().split())
    storm = STORM_RECENT["summary"]["storm"]["djws"]
    seconds, cpu = storm["all_back_s_all"], storm["cpu_ms_per_page_all"]
    other = storm["cpu_other_percent_all"]
    quoted = listed(seconds, ".1f")
    assert (
        f"(``bench/results/storm-recent``) took {quoted} seconds, with "
        f"{min(cpu):.2f} to {max(cpu):.2f} ms of worker CPU per page, no gap and no "
        f"duplicate; Redis and the publisher used {min(other):.0f} to {max(other):.0f} % "
        "of one core"
    ) in page


def test_the_committed_run_is_complete_and_of_a_committed_tree() -> None:
    assert not RESULTS["meta"]["repository"]["dirty"]
    assert RESULTS["meta"]["args"]["repetitions"] == 3
    for case in (
        "echo",
        "handshake",
        "handshake-anon",
        "idle",
        "broadcast-5000",
        "broadcast-redis-5000",
        "storm",
        "resume",
    ):
        assert SUMMARY[case]["djws"]["ok_runs"] == 3, case
    for case in ("echo", "handshake", "handshake-anon", "idle", "broadcast-5000"):
        for server in SERVERS[1:]:
            assert SUMMARY[case][server]["ok_runs"] == 3, (case, server)
    for case in ("echo", "handshake", "handshake-anon", "idle", "idle-anon"):
        assert SUMMARY[case]["bare"]["ok_runs"] == 3, case
    for case in ("django", "django-anon"):
        assert SUMMARY[case]["djws"]["ok_runs"] == 3, case


def test_the_benchmarks_page_quotes_the_committed_run() -> None:
    page = (ROOT / "docs" / "topics" / "benchmarks.rst").read_text()
    cells = table_rows(page)
    for label, case, key in (
        ("echo, 100 connections, messages/s", "echo", "msgs_per_s"),
        ("echo, messages per server CPU-second", "echo", "msgs_per_cpu_s"),
        ("handshakes/s, logged-in DB session", "handshake", "handshakes_per_s"),
        ("handshakes/s, no cookie", "handshake-anon", "handshakes_per_s"),
        ("handshakes/s while opening 10,000", "idle", "handshakes_per_s"),
    ):
        assert cells[label] == [rate(case, s, key) for s in SERVERS], label
    idle = cells["RSS per idle connection at 10,000, KiB"]
    assert idle == [f"{value('idle', s, 'rss_per_conn_kib'):.1f}" for s in SERVERS]
    flat = " ".join(page.split())
    for sentence in target_sentences():
        assert sentence in flat, sentence


def test_the_benchmarks_page_quotes_every_other_figure_of_the_committed_run() -> None:
    page = (ROOT / "docs" / "topics" / "benchmarks.rst").read_text()
    cells = table_rows(page)

    def ms(figure: float) -> str:
        return f"{figure:,.1f}" if figure < 1000 else f"{figure:,.0f}"

    assert cells["echo latency p50 / p99, ms"] == [
        f"{value('echo', s, 'p50_ms'):.1f}/{value('echo', s, 'p99_ms'):.1f}" for s in SERVERS
    ]
    assert cells["the same without a cookie, KiB"] == [
        f"{value('idle-anon', s, 'rss_per_conn_kib'):.1f}" for s in SERVERS
    ]
    for n in ("1,000", "5,000"):
        case = f"broadcast-{n.replace(',', '')}"
        assert cells[f"broadcast to {n}, 10/s: p99 ms"] == [
            ms(value(case, s, "p99_ms")) for s in SERVERS
        ]
        assert cells[f"broadcast to {n}: lost"] == [f"{value(case, s, 'lost'):,}" for s in SERVERS]
    for case in ("idle", "idle-anon"):
        for server in SERVERS:
            assert SUMMARY[case][server]["answered_at_end_all"] == [10_000] * 3, (case, server)

    def times(case: str, key: str, server: str) -> float:
        return value(case, "djws", key) / value(case, server, key)

    echo, resume = SUMMARY["echo"], SUMMARY["resume"]["djws"]
    servers_cpu = [round(echo[s]["cpu_server_percent"]) for s in SERVERS]
    redis = [value(f"broadcast-redis-{n}", "djws", "p99_ms") for n in (1000, 5000)]
    quoted = [
        f"It used {echo['djws']['cpu_client_percent']:.0f} % of its core in djws's echo "
        f"({echo['ws']['cpu_client_percent']:.0f} % in ws's) while every server used "
        f"{min(servers_cpu)} to {max(servers_cpu)} % of its own",
        f"Channels' sync consumer echoed {rate('echo', 'daphne-sync', 'msgs_per_s')} messages "
        f"a second under Daphne and {rate('echo', 'uvicorn-sync', 'msgs_per_s')} under uvicorn",
        f"had a p99 of {redis[0]:.1f} ms to 1,000 sockets and {redis[1]:.1f} ms to 5,000, "
        "none lost",
        f"logged in, {value('django-anon', 'djws', 'us_per_request'):,.0f} µs without a cookie",
        f"Django's own work, in-process: {value('django', 'djws', 'us_per_request'):,.0f} µs",
        f"at most {target_at_most('with a logged-in DB session')} and "
        f"{target_at_most('without a cookie')} handshakes a second",
        "djws echoes three times as fast as raw gevent-websocket",
        f"Handshakes: {times('handshake', 'handshakes_per_s', 'daphne'):.1f} times Daphne and "
        f"{times('handshake', 'handshakes_per_s', 'uvicorn'):.1f} times uvicorn",
        f"grows to {times('idle', 'handshakes_per_s', 'daphne'):.0f} times Daphne and "
        f"{times('idle', 'handshakes_per_s', 'uvicorn'):.0f} times uvicorn",
        f"Memory: {round(value('idle', 'djws', 'rss_per_conn_kib'))} KiB per idle connection "
        f"logged in, {round(value('idle-anon', 'djws', 'rss_per_conn_kib'))} KiB without a cookie",
        f"({value('idle', 'daphne', 'rss_per_conn_kib'):.1f} KiB under Daphne, "
        f"{value('idle', 'uvicorn', 'rss_per_conn_kib'):.1f} under uvicorn)",
        f"caught up {resume['resume_all_s']:.1f} seconds after they reconnected "
        f"({resume['resume_clients_per_s']:,.0f} clients a second; each one "
        f"{resume['resume_p50_ms']:,.0f} ms from connecting to caught up at the median, "
        f"{resume['resume_p99_ms']:,.0f} ms at p99), where reloading the rows took "
        f"{resume['reload_all_s']:.1f} seconds ({resume['reload_clients_per_s']:,.0f} clients "
        f"a second; {resume['reload_p50_ms']:,.0f} ms and {resume['reload_p99_ms']:,.0f} ms): "
        f"{resume['reload_over_resume']:.1f} times as long",
        f"came in at {resume['open_clients_per_s']:,.0f} a second",
    ]
    assert round(times("echo", "msgs_per_s", "raw")) == 3  # "three times as fast"
    per_cpu = target("echo messages per server CPU-second, djws / Node.js ws")
    assert round(3 * per_cpu) == 2  # "two thirds"
    quoted.append(f"ws does the same work in two thirds of the CPU ({per_cpu:.2f} in this run)")
    flat = " ".join(page.split())
    for sentence in quoted:
        assert sentence in flat, sentence


def target_at_most(who: str) -> str:
    """The run's bound on handshakes/s from Django's own work and gevent-websocket's."""
    found = target(f"handshakes/s {who}: at most, with Django's own work and gevent-websocket")
    return f"{found:,.0f}"


def test_the_handshake_floor_run_is_complete_and_of_a_committed_tree() -> None:
    assert not FLOOR["meta"]["repository"]["dirty"]
    assert FLOOR["meta"]["args"]["repetitions"] == 3
    for case, servers in (
        ("handshake", ("djws", "raw", "bare")),
        ("handshake-anon", ("djws", "raw", "bare")),
        ("django", ("djws",)),
        ("django-anon", ("djws",)),
    ):
        for server in servers:
            assert FLOOR["summary"][case][server]["ok_runs"] == 3, (case, server)


def test_the_scaling_howto_quotes_what_djangos_own_work_leaves() -> None:
    summary = FLOOR["summary"]
    targets = {row["target"]: row["measured"] for row in FLOOR["targets"]}

    def at_most(case: str, kind: str) -> str:
        label = "with a logged-in DB session" if case == "handshake" else "without a cookie"
        return f"{targets[f'handshakes/s {label}: at most, with Django' + kind]:,.0f}/s"

    def django_us(case: str) -> str:
        return f"{summary[case]['djws']['us_per_request']:,.0f} µs"

    def djws(case: str) -> str:
        return f"{summary[case]['djws']['handshakes_per_s']:,.0f}/s"

    bare, raw = "'s own work and bare gevent sockets", "'s own work and gevent-websocket"
    rows = [
        (
            "Django's own work per request, in-process",
            django_us("django"),
            django_us("django-anon"),
        ),
        (
            "at most, Django's work plus bare gevent sockets",
            at_most("handshake", bare),
            at_most("handshake-anon", bare),
        ),
        (
            "at most, Django's work plus gevent-websocket",
            at_most("handshake", raw),
            at_most("handshake-anon", raw),
        ),
        ("djws", djws("handshake"), djws("handshake-anon")),
    ]
    page = (ROOT / "docs" / "howto" / "scaling.rst").read_text()
    cells = table_rows(page)
    for label, logged_in, anonymous in rows:
        assert cells[label] == [logged_in, anonymous], label
    flat = " ".join(page.split())
    bare_rate = summary["handshake-anon"]["bare"]["handshakes_per_s"]
    raw_rate = summary["handshake-anon"]["raw"]["handshakes_per_s"]
    assert f"The bare server did {bare_rate:,.0f} handshakes per second" in flat
    assert (
        f"gevent-websocket under gunicorn, which djws's worker is built on, {raw_rate:,.0f},"
        in (flat)
    )
    logged_in = targets["handshakes/s with a logged-in DB session: at most, with Django" + bare]
    anonymous = targets["handshakes/s without a cookie: at most, with Django" + raw]
    assert logged_in < 1000
    assert anonymous < 2000
    assert "Django's own work alone allows fewer than 1,000 handshakes per second" in flat
    assert "Django's work plus gevent-websocket's allows fewer than 2,000" in flat


def test_the_scaling_howto_quotes_the_committed_run() -> None:
    cells = table_rows((ROOT / "docs" / "howto" / "scaling.rst").read_text())
    assert cells["memory per idle connection, 10,000 in one worker"] == [kib("djws")]
    for label, case in (
        ("handshakes/s, logged-in session, churning", "handshake"),
        ("handshakes/s, no cookie, churning", "handshake-anon"),
        ("handshakes/s while opening 10,000 connections", "idle"),
    ):
        assert cells[label] == [f"{rate(case, 'djws')} per worker"], label
    assert cells["broadcast to 5,000 sockets, 10 messages/s"] == [
        f"p99 {latency('broadcast-5000', 'djws')}, none lost"
    ]
    assert value("broadcast-5000", "djws", "lost") == 0
    assert cells["echo, 100 connections"] == [
        f"{rate('echo', 'djws', 'msgs_per_s')} messages/s per worker"
    ]


def test_the_benchmarks_page_quotes_how_the_machines_speed_varied() -> None:
    page = " ".join((ROOT / "docs" / "topics" / "benchmarks.rst").read_text().split())
    floor = FLOOR["summary"]["handshake-anon"]["djws"]["handshakes_per_s_all"]
    quoted = listed(floor, ",.0f")
    assert f"measured {quoted} a second in the three repetitions" in page
    assert f"and {rate('handshake-anon', 'djws')} (median) in this run" in page
    reps = SUMMARY["handshake-anon"]["djws"]["handshakes_per_s_all"]
    quoted = listed(reps, ",.0f")
    assert f"whose repetitions measured {quoted}." in page


def test_the_operations_page_quotes_the_committed_flood_run() -> None:
    assert not FLOOD["meta"]["repository"]["dirty"]
    assert FLOOD["meta"]["args"]["repetitions"] == 3
    flood = FLOOD["summary"]["flood"]
    assert [flood[server]["ok_runs"] for server in ("djws", "raw", "daphne")] == [3, 3, 3]
    rows = table_rows((ROOT / "docs" / "topics" / "operations.rst").read_text())

    def ms(key: str) -> list[str]:
        return [
            f"{flood[s][key]:,.2f} ms" if flood[s][key] < 100 else f"{flood[s][key]:,.0f} ms"
            for s in ("djws", "raw", "daphne")
        ]

    assert rows["others' echo p99, without the flood"] == ms("quiet_p99_ms")
    assert rows["others' echo p99, during the flood"] == ms("flood_p99_ms")
    assert rows["new handshake, slowest during the flood"] == ms("flood_handshake_max_ms")
    assert rows["the flooder's messages echoed per second"] == [
        f"{flood[s]['flood_echoed_per_s']:,.0f}" for s in ("djws", "raw", "daphne")
    ]


def test_the_benchmarks_page_quotes_the_floor_of_a_gevent_server() -> None:
    assert not GEVENT_FLOOR["meta"]["repository"]["dirty"]
    assert GEVENT_FLOOR["meta"]["args"]["repetitions"] == 3
    summary = GEVENT_FLOOR["summary"]
    for case in ("echo", "idle", "idle-anon"):
        for server in ("djws", "raw", "bare", "ws"):
            assert summary[case][server]["ok_runs"] == 3, (case, server)
    for case in ("idle", "idle-anon"):
        for server in ("djws", "raw", "bare", "ws"):
            assert summary[case][server]["answered_at_end_all"] == [10_000] * 3, (case, server)
    floor = [
        row
        for row in GEVENT_FLOOR["targets"]
        if row["target"].endswith("djws / bare gevent sockets (the floor)")
    ]
    assert len(floor) == 1
    echo = summary["echo"]
    ws_over_bare = echo["ws"]["msgs_per_cpu_s"] / echo["bare"]["msgs_per_cpu_s"]

    def kib(server: str) -> str:
        return f"{summary['idle-anon'][server]['rss_per_conn_kib']:.1f}"

    page = " ".join((ROOT / "docs" / "topics" / "benchmarks.rst").read_text().split())
    quoted = [
        f"djws echoed {floor[0]['measured']:.2f} times as many messages per server CPU-second "
        f"as bare ({listed(floor[0]['repetitions'], '.2f')} in the three repetitions) and ws "
        f"{ws_over_bare:.2f} times as many",
        f"an idle connection held {kib('bare')} KiB under bare, {kib('raw')} under "
        f"gevent-websocket and {kib('djws')} under djws",
        f"djws's worker used {summary['idle-anon']['djws']['rest_cpu_server_percent']:.1f} % "
        "of a core",
    ]
    # The committed run of every server has bare too (and another machine's speeds).
    official = target_row(floor[0]["target"])
    official_ws_over_bare = (
        SUMMARY["echo"]["ws"]["msgs_per_cpu_s"] / SUMMARY["echo"]["bare"]["msgs_per_cpu_s"]
    )
    quoted.append(
        f"In the run shown above, on another machine, djws echoed {official['measured']:.2f} "
        f"times as many as bare ({listed(official['repetitions'], '.2f')}) and ws "
        f"{official_ws_over_bare:.2f} times as many"
    )
    for sentence in quoted:
        assert sentence in page, sentence

"""WebSocket views of the test project (WEBSOCKET_URLCONF)."""

from django.urls import include, path

from . import accept_views, auth_views, live, views

urlpatterns = [
    path("echo/", views.echo, name="echo"),
    path("raise/", views.raise_error, name="raise"),
    path("close/<int:code>/", views.close_with, name="close"),
    path("whoami/", views.whoami, name="whoami"),
    path("headers/", views.headers),
    path("private/", views.private, name="private"),
    path("forbidden/", views.forbidden, name="forbidden"),
    path("blocked-by-middleware/", views.echo),
    path("session/", views.session, name="session"),
    path("subprotocol/", views.subprotocol, name="subprotocol"),
    path("not-a-websocket-view/", views.plain_view),
    path("db/sleep/", views.db_sleep, name="db-sleep"),
    path("db/resilient/", views.db_resilient),
    path("db/write/", views.db_write, name="db-write"),
    path("db/count/", views.db_count, name="db-count"),
    path("db/idle/", views.db_idle, name="db-idle"),
    path("deliver/", views.deliver, name="deliver"),
    path("flood/<int:count>/", views.flood, name="flood"),
    path("stamp/", views.stamp, name="stamp"),
    path("broken-before-accept/", views.broken_before_accept),
    path("protocol/stats/", views.protocol_stats),
    path("protocol/origin-override/", views.origin_override),
    path("protocol/echo-uncompressed/", views.echo_uncompressed),
    path("protocol/ticker/", views.protocol_ticker),
    path("memory/tracked/", views.tracked_echo),
    path("memory/report/", views.gc_report),
    path("events/private/", views.private_events),
    path("events/<str:group>/", views.events),
    path("memory/gc/start/", views.gc_timing_start),
    path("memory/gc/report/", views.gc_timing_report),
    path("memory/snapshot/", views.memory_snapshot),
    path("memory/stacks/", views.memory_stacks),
]

# Limit tests (tests/test_limits.py)
urlpatterns += [
    path("limits/joiner/", views.joiner),
    path("limits/echo-five/", views.echo_five_a_second),
]

# Broadcast tests (tests/test_broadcast_*.py)
urlpatterns += [
    path("broadcast/member/<str:group>/", views.broadcast_member),
    path("broadcast/relay/<str:group>/", views.broadcast_relay),
    path("broadcast/identity/", views.broadcast_identity),
]

# Views that accept or refuse themselves (tests/test_core_accept.py)
urlpatterns += [
    path("accept/chosen/", accept_views.chosen),
    path("accept/room/<str:name>/", accept_views.room),
    path("accept/denied/", accept_views.denied),
    path("accept/early-send/", accept_views.early_send),
    path("accept/forgot/", accept_views.forgot),
    path("accept/late-response/", accept_views.late_response),
    path("accept/member/<str:group>/", accept_views.member),
]

# Clients without a cookie: tickets and tokens (tests/test_auth_*.py)
urlpatterns += [
    path("auth/whoami/", auth_views.whoami),
    path("auth/chat/", auth_views.chat),
    path("auth/private/", auth_views.private),
    path("auth/broken/", auth_views.broken),
    path("auth/sender/", auth_views.sender),
    path("auth/credentials/<str:username>/", auth_views.credentials),
]

# Live pages (tests/test_live_*.py, tests/test_browser_live_*.py)
urlpatterns += [
    path("live/", include("djws.live.urls")),
    path("live/form/", live.note_form, name="live-note-form"),
]

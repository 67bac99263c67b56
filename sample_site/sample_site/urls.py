"""Pages of the sample site (ROOT_URLCONF)."""

from django.conf import settings
from django.contrib.staticfiles.views import serve
from django.urls import path, re_path
from playground import live, views

from djws.contrib.chat.views import ROOM_RE

urlpatterns = [
    path("", views.index, name="index"),
    path("chat/", views.chat, name="chat"),
    re_path(rf"^chat/(?P<room>{ROOM_RE})/$", views.chat, name="chat"),
    path("echo/", views.echo, name="echo"),
    path("ping/", views.ping, name="ping"),
    path("live/htmx/", live.htmx_comments, name="htmx-comments"),
    path("live/turbo/", live.turbo_comments, name="turbo-comments"),
]

if not settings.DEBUG:
    # A playground has no web server in front of it to serve static files; with
    # DEBUG on, runserver and runwebsocket --http serve them. A real project
    # uses whitenoise or its web server instead.
    urlpatterns += [re_path(r"^static/(?P<path>.*)$", serve, {"insecure": True})]

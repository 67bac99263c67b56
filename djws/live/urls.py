"""URL patterns of the signed streams' endpoint, to ``include()`` in a ``WEBSOCKET_URLCONF``.

::

    urlpatterns = [path("live/", include("djws.live.urls"))]

gives ``live/``, named ``djws_live:stream`` (:mod:`djws.live.views`).
"""

from __future__ import annotations

from django.urls import URLPattern, path

from .views import stream

__all__ = ["app_name", "urlpatterns"]

app_name = "djws_live"

urlpatterns: list[URLPattern] = [path("", stream, name="stream")]

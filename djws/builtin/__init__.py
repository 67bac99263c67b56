"""Ready-made WebSocket servers: echo and ping, and the chat of :mod:`djws.contrib.chat`.

Include them in your ``WEBSOCKET_URLCONF``::

    path("ws/", include("djws.builtin.urls"))

and reverse them as ``djws:echo`` and ``djws:ping``::

    {% websocket_url 'djws:echo' %}

They are small enough to read as examples of ``@websocket`` views, and useful
as such: echo and ping check that a deployment passes WebSockets through, and
need no database. The chat, to try broadcast, is an app of its own because it
keeps its history in a table: with ``"djws.contrib.chat"`` in
``INSTALLED_APPS`` (and ``manage.py migrate`` run), the same include also
gives ``djws:chat``, with an optional room name::

    {% websocket_url 'djws:chat' 'lobby' %}
"""

__all__: list[str] = []

"""Ready-made WebSocket servers: echo, ping and chat.

Include them in your ``WEBSOCKET_URLCONF``::

    path("ws/", include("djws.servers.urls"))

and reverse them as ``djws:echo``, ``djws:ping`` and ``djws:chat`` (with an
optional room name)::

    {% websocket_url 'djws:chat' 'lobby' %}

They are small enough to read as examples of ``@websocket`` views, and useful
as such: echo and ping to check that a deployment passes WebSockets through,
chat to try broadcast. The chat keeps its recent history in the database
(:class:`djws.models.ChatMessage`): run ``manage.py migrate`` first.
"""

__all__: list[str] = []

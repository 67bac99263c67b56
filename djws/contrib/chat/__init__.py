"""The built-in chat server, an app of its own: rooms, history, broadcast.

Enable it in three steps:

1. add ``"djws.contrib.chat"`` to ``INSTALLED_APPS``, beside ``"djws"``;
2. run ``manage.py migrate``, which creates its history table
   (``djws_chat_chatmessage``);
3. route WebSockets to it in ``WEBSOCKET_URLCONF``, with the other built-in
   servers (reversed as ``djws:chat``)::

       path("ws/", include("djws.builtin.urls"))

   or alone (reversed as ``djws_chat:chat``)::

       path("ws/", include("djws.contrib.chat.urls"))

Both give ``ws/chat/`` (the ``lobby`` room) and ``ws/chat/<room>/``. The
protocol is described in :mod:`djws.contrib.chat.views`; the
``WEBSOCKET_CHAT_HISTORY`` setting (default 50) is how many messages a room
keeps. Importing the chat's modules without the app installed raises a
``RuntimeError`` that says to add it.
"""

__all__: list[str] = []

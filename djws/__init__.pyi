"""Types of the public API that ``djws/__init__.py`` imports lazily."""

from .broadcast import BroadcastError as BroadcastError
from .broadcast import GroupMessage as GroupMessage
from .broadcast import GroupReset as GroupReset
from .broadcast import HistoryError as HistoryError
from .broadcast import Joined as Joined
from .broadcast import Position as Position
from .broadcast import PresenceError as PresenceError
from .broadcast import PublishError as PublishError
from .broadcast import close_group as close_group
from .broadcast import close_session as close_session
from .broadcast import close_user as close_user
from .broadcast import history as history
from .broadcast import presence as presence
from .broadcast import publish as publish
from .broadcast import send_to_session as send_to_session
from .broadcast import send_to_user as send_to_user
from .connection import CloseCode as CloseCode
from .connection import WebSocket as WebSocket
from .decorators import websocket as websocket
from .eventstream import event_stream as event_stream
from .exceptions import ConnectionClosed as ConnectionClosed
from .reverse import event_stream_url as event_stream_url
from .reverse import reverse_websocket as reverse_websocket
from .reverse import websocket_url as websocket_url
from .wsgi import get_wsgi_websocket_application as get_wsgi_websocket_application

__version__: str
__all__: list[str]
_EXPORTS: dict[str, str]

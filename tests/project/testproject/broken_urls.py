"""A WEBSOCKET_URLCONF that cannot be imported, for the system check tests."""

import testproject.does_not_exist  # noqa: F401

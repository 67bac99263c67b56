"""A log formatter that writes out each record's request in full (tests/test_auth_tickets.py)."""

import logging


class RequestFormatter(logging.Formatter):
    """The message, its traceback, then the request's URL, GET, headers and whole META."""

    def format(self, record):
        text = super().format(record)
        request = getattr(record, "request", None)
        if request is None or not hasattr(request, "META"):
            return text
        return (
            f"{text}\n  request {request.get_full_path()} GET={dict(request.GET)!r}"
            f" headers={dict(request.headers)!r}\n  META={request.META!r}"
        )

"""A middleware that proves the project's MIDDLEWARE runs for WebSocket requests."""


class StampMiddleware:
    """Mark every request, and refuse the path /blocked-by-middleware/."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.stamped_by_middleware = True
        if request.path == "/blocked-by-middleware/":
            from django.http import HttpResponse

            return HttpResponse("blocked", status=418)
        return self.get_response(request)

"""HTTP URLs: none are benchmarked; the WebSocket routes live elsewhere."""

urlpatterns: list = []

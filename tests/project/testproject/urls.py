"""HTTP views of the test project (served by --http, or by runserver)."""

from django.contrib.auth import get_user_model, login
from django.http import HttpResponse
from django.urls import path


def home(request):
    request.session["visits"] = request.session.get("visits", 0) + 1
    return HttpResponse(f"home visits={request.session['visits']}")


def login_as(request, username):
    user, _ = get_user_model().objects.get_or_create(username=username)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return HttpResponse(f"logged in as {username}")


urlpatterns = [
    path("", home),
    path("login/<str:username>/", login_as),
]


def broken(request):
    raise RuntimeError("broken page")


def _websocket_view_in_http_urlconf():
    from .views import echo

    return echo


urlpatterns += [
    path("broken/", broken),
    path("websocket-view/", _websocket_view_in_http_urlconf()),
]

"""HTTP views of the test project (served by --http, or by runserver)."""

from django.contrib.auth import get_user_model, login, logout, update_session_auth_hash
from django.http import HttpResponse
from django.urls import path

from djws.auth.drf import TicketAPIView
from djws.auth.views import ticket_view


def home(request):
    request.session["visits"] = request.session.get("visits", 0) + 1
    return HttpResponse(f"home visits={request.session['visits']}")


def login_as(request, username):
    user, _ = get_user_model().objects.get_or_create(username=username)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return HttpResponse(f"logged in as {username}")


def logout_view(request):
    logout(request)
    return HttpResponse("logged out")


def change_password(request, password):
    """Change the logged-in user's password as Django's PasswordChangeView does."""
    user = request.user
    user.set_password(password)
    user.save()
    if request.GET.get("keep", "1") == "1":
        update_session_auth_hash(request, user)  # this session stays logged in
    return HttpResponse(f"password changed, session {request.session.session_key}")


def end_session(request, key):
    """Delete a session, as the admin or a "log out everywhere" page would."""
    from django.contrib.sessions.models import Session

    deleted, _ = Session.objects.filter(session_key=key).delete()
    return HttpResponse(f"deleted {deleted}")


urlpatterns = [
    path("", home),
    path("end-session/<str:key>/", end_session),
    path("login/<str:username>/", login_as),
    path("logout/", logout_view),
    path("password/<str:password>/", change_password),
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


# Clients without a cookie (tests/test_auth_*.py): djws's ticket view, and the
# tokens of Django REST framework and simplejwt for a user.


def drf_token(request, username):
    from rest_framework.authtoken.models import Token

    user, _ = get_user_model().objects.get_or_create(username=username)
    return HttpResponse(Token.objects.get_or_create(user=user)[0].key)


def jwt_token(request, username):
    from rest_framework_simplejwt.tokens import AccessToken

    user, _ = get_user_model().objects.get_or_create(username=username)
    return HttpResponse(str(AccessToken.for_user(user)))


def deactivate(request, username):
    get_user_model().objects.filter(username=username).update(is_active=False)
    return HttpResponse("deactivated")


def user_pk(request, username):
    return HttpResponse(str(get_user_model().objects.get_or_create(username=username)[0].pk))


urlpatterns += [
    path("ws-ticket/", ticket_view),
    path("api/ws-ticket/", TicketAPIView.as_view()),
    path("drf-token/<str:username>/", drf_token),
    path("jwt/<str:username>/", jwt_token),
    path("user-pk/<str:username>/", user_pk),
    path("deactivate/<str:username>/", deactivate),
]

# Live pages (tests/test_live_*.py, tests/test_browser_live_*.py)
from . import live  # noqa: E402

urlpatterns += [
    path("live/htmx/<int:version>/", live.htmx_page),
    path("live/htmx/<int:version>/<str:stream>/", live.htmx_page),
    path("live/turbo/<str:stream>/", live.turbo_page),
    path("live/sign/<str:name>/", live.sign),
    path("live/publish/<str:stream>/", live.publish),
    path("live/create/<str:stream>/", live.create),
    path("live/personal/<str:stream>/", live.personal),
    path("live/notify/<str:username>/", live.notify),
]

"""The live pages: comments that appear in every open window, with htmx or with Turbo.

Both pages show the same comments. On the htmx page the form goes over the page's
WebSocket (``ws-send``) to :func:`comments_socket`, which validates it with a
Django form and answers the sender alone with the form again (cleared, or with
its errors under the fields). On the Turbo page the form is POSTed, as Turbo
does, to :func:`turbo_comments`, which answers with a Turbo Stream. Either way
the new comment is saved, and :func:`djws.live.broadcasts_to` (in ``apps.py``)
publishes it to both pages' streams: one line of Python per page.
"""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from djws.connection import WebSocket
from djws.decorators import websocket
from djws.live import htmx, turbo

from .forms import CommentForm
from .models import Comment

__all__ = ["HTMX_STREAM", "TURBO_STREAM", "comments_socket", "htmx_comments", "turbo_comments"]

#: The streams the pages listen to (apps.py publishes every new comment to both).
HTMX_STREAM = "comments:htmx"
TURBO_STREAM = "comments:turbo"
#: Comments a page shows when it loads; the newest, oldest first.
SHOWN = 50

HTMX_FORM = "playground/live/htmx_form.html"
TURBO_FORM = "playground/live/turbo_form.html"


def recent() -> list[Comment]:
    """The last comments, oldest first."""
    return list(reversed(Comment.objects.order_by("-id")[:SHOWN]))


def htmx_comments(request: HttpRequest) -> HttpResponse:
    """The htmx page: its WebSocket both listens and sends the form."""
    context = {"comments": recent(), "form": CommentForm(), "stream": HTMX_STREAM}
    return render(request, "playground/live/htmx.html", context)


@websocket
def comments_socket(request: HttpRequest, ws: WebSocket) -> None:
    """The htmx page's WebSocket: every new comment, and the form it posts."""
    ws.join(HTMX_STREAM)
    for message in ws:
        form = CommentForm(htmx.read(message).data)
        if form.is_valid():
            form.save()  # apps.py's broadcasts_to shows it on every page
            form = CommentForm(initial={"name": form.cleaned_data["name"]})
        ws.send(htmx.replace("comment-form", template=HTMX_FORM, context={"form": form}))


def turbo_comments(request: HttpRequest) -> HttpResponse:
    """The Turbo page, and where its form is posted."""
    form = CommentForm(request.POST or None)
    if request.method == "POST":
        valid = form.is_valid()
        if valid:
            form.save()  # apps.py's broadcasts_to shows it on every page
        if turbo.CONTENT_TYPE.split(";")[0] in request.headers.get("Accept", ""):
            if valid:
                form = CommentForm(initial={"name": form.cleaned_data["name"]})
            replaced = turbo.replace("comment-form", template=TURBO_FORM, context={"form": form})
            return turbo.response(replaced, status=200 if valid else 422)
        if valid:  # a browser without JavaScript: the page again
            return redirect("turbo-comments")
    context = {"comments": recent(), "form": form, "stream": TURBO_STREAM}
    return render(
        request, "playground/live/turbo.html", context, status=422 if form.errors else 200
    )

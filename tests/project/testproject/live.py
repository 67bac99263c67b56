"""Live pages of the test project (tests/test_live_*.py, tests/test_browser_live_*.py).

Pages: htmx 2 and htmx 4 pages that post a form over their WebSocket or listen
to a signed stream, and a Turbo page that listens to one (over a WebSocket, or
Server-Sent Events with ``?transport=sse``). HTTP views publish to streams the
ways an application does: an explicit publish, a model saved (``Message``,
published by ``broadcasts_to`` in apps.py), a fragment rendered per user, a
message for a user's pages and apps.
"""

import json

from django import forms
from django.contrib.auth import get_user_model
from django.http import HttpResponse
from django.shortcuts import render
from django.utils.html import format_html

from djws import broadcast, live
from djws.decorators import websocket
from djws.live import htmx, turbo

from .models import Message


class NoteForm(forms.Form):
    """What the htmx pages post: a required title, checkboxes and a multiple select."""

    title = forms.CharField(max_length=40)
    tags = forms.MultipleChoiceField(
        choices=[("red", "Red"), ("green", "Green"), ("blue", "Blue")],
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    sizes = forms.MultipleChoiceField(
        choices=[("s", "Small"), ("m", "Medium"), ("l", "Large")], required=False
    )


FORM_STREAM = "htmx-notes"


def own_stream(request, name):
    """WEBSOCKET_STREAM_CHECKS: ``private:<username>`` is that user's alone."""
    return name == f"private:{request.user.get_username()}"


# Pages


def htmx_page(request, version, stream=None):
    """An htmx page (2 or 4): with a stream, it listens to it; else it posts a NoteForm."""
    context = {"version": version, "stream": stream, "form": NoteForm()}
    return render(request, "live/htmx.html", context)


def turbo_page(request, stream):
    """A Turbo page listening to ``stream`` (``?transport=sse``: as Server-Sent Events)."""
    context = {"stream": stream, "transport": request.GET.get("transport", "websocket")}
    return render(request, "live/turbo.html", context)


# Publishing


def sign(request, name):
    """The signed name of stream ``name``, as a page would get it."""
    return HttpResponse(live.sign(name), content_type="text/plain")


def publish(request, stream):
    """Publish ``?text=`` to a stream's pages, as Turbo (default) or htmx (``?format=htmx``)."""
    helpers = htmx if request.GET.get("format") == "htmx" else turbo
    item = format_html("<li>{}</li>", request.GET["text"])
    return HttpResponse(str(live.publish(stream, helpers.append("messages", item))))


def create(request, stream):
    """Save a Message: broadcasts_to (apps.py) publishes it to its stream."""
    message = Message.objects.create(stream=stream, text=request.GET["text"])
    return HttpResponse(str(message.pk))


def personal(request, stream):
    """Publish a fragment every worker renders for each member's user."""
    content = live.per_user("live/personal.html", {"n": int(request.GET.get("n", "1"))})
    helpers = htmx if request.GET.get("format") == "htmx" else turbo
    return HttpResponse(str(live.publish(stream, helpers.append("messages", content))))


def notify(request, username):
    """Tell a user something: their pages get HTML, their other clients JSON."""
    user = get_user_model().objects.get(username=username)
    text = request.GET["text"]
    html = turbo.append("notifications", format_html("<li>{}</li>", text))
    return HttpResponse(str(broadcast.send_to_user(user, {"notification": text}, html=html)))


# WebSockets


@websocket
def note_form(request, ws):
    """The htmx pages' form: validated; the sender gets what was read and the form back."""
    ws.join(FORM_STREAM)
    for message in ws:
        sent = htmx.read(message)
        read = {
            "data": {key: sent.data.getlist(key) for key in sorted(sent.data)},
            "version": sent.version,
            "trigger": sent.trigger,
            "trigger_name": sent.trigger_name,
            "target": sent.target,
            "current_url": sent.current_url,
        }
        ws.send(htmx.update("read", json.dumps(read, sort_keys=True)))
        form = NoteForm(sent.data)
        if form.is_valid():
            item = format_html("<li>{}</li>", form.cleaned_data["title"])
            live.publish(FORM_STREAM, htmx.append("notes", item))
            form = NoteForm()
        context = {"form": form, "version": sent.version}
        ws.send(htmx.replace("note-form", template="live/note_form.html", context=context))

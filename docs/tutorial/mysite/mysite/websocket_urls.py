from django.urls import path

from chat import views

urlpatterns = [
    path("chat/<slug:name>/", views.room, name="room"),
]

from django.contrib import admin
from django.urls import path

from chat import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("chat/<slug:name>/", views.room_page, name="room-page"),
    path("chat/<slug:name>/announce/", views.announce, name="announce"),
]

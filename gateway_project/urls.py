"""URL wiring only: the admin and the one NinjaAPI."""

from django.contrib import admin
from django.urls import path

from gateway_project.api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", api.urls),
]

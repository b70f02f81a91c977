"""URL wiring only: the admin and the one NinjaAPI."""

from django.contrib import admin
from django.urls import path

from gateway_project.api import api

# The API first: its /admin/research/* endpoints sit under the admin site's prefix, whose catch-all would
# otherwise answer them; every other admin path falls through to the admin site.
urlpatterns = [
    path("", api.urls),
    path("admin/", admin.site.urls),
]

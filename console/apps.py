from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class GatewayAdminConfig(AdminConfig):
    """Django's admin with the gateway's site (console.site): navigation grouped by task, control-plane pages."""

    default_site = "console.site.GatewayAdminSite"


class ConsoleConfig(AppConfig):
    name = "console"
    verbose_name = "Control plane"

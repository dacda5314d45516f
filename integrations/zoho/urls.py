from django.urls import path

from integrations.zoho import views
from integrations.zoho.sandbox.urls import urlpatterns as sandbox_urlpatterns  # noqa: F401

urlpatterns = [
    path("integrations/zoho/connect/", views.connect, name="zoho_connect"),
    path("integrations/zoho/callback/", views.callback, name="zoho_callback"),
    path("integrations/zoho/<int:pk>/", views.connection_detail, name="zoho_connection"),
    path("integrations/zoho/<int:pk>/organization/", views.pick_organization, name="zoho_pick_organization"),
    path("integrations/zoho/<int:pk>/disconnect/", views.disconnect, name="zoho_disconnect"),
]

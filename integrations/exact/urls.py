from django.urls import path

from integrations.exact import views, webhooks

urlpatterns = [
    path("integrations/exact/connect/", views.connect, name="exact_connect"),
    path("integrations/exact/callback/", views.callback, name="exact_callback"),
    path("integrations/exact/<int:pk>/", views.connection_detail, name="exact_connection"),
    path("integrations/exact/<int:pk>/division/", views.pick_division, name="exact_pick_division"),
    path("integrations/exact/<int:pk>/webhooks/", views.resubscribe, name="exact_resubscribe"),
    path("integrations/exact/<int:pk>/disconnect/", views.disconnect, name="exact_disconnect"),
    path("hooks/exact/<str:token>/", webhooks.ExactWebhook.as_view(), name="exact_webhook"),
]

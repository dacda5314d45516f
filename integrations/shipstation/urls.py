from django.urls import path

from integrations.shipstation import views, webhooks

urlpatterns = [
    path("integrations/shipstation/connect/", views.connect, name="shipstation_connect"),
    path("integrations/shipstation/<int:pk>/", views.connection_detail, name="shipstation_connection"),
    path("integrations/shipstation/<int:pk>/repair/", views.repair, name="shipstation_repair"),
    path("integrations/shipstation/<int:pk>/disconnect/", views.disconnect, name="shipstation_disconnect"),
    path("hooks/shipstation/<str:token>/", webhooks.ShipStationWebhook.as_view(), name="shipstation_webhook"),
]

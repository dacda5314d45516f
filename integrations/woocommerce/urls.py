from django.urls import path

from . import views, webhooks

urlpatterns = [
    path("integrations/woocommerce/connect/", views.connect, name="woocommerce_connect"),
    path("integrations/woocommerce/connect/keys/", views.connect_manual, name="woocommerce_connect_manual"),
    path("integrations/woocommerce/callback/", views.callback, name="woocommerce_callback"),
    path("integrations/woocommerce/return/", views.auth_return, name="woocommerce_return"),
    path("integrations/woocommerce/<int:pk>/", views.connection_detail, name="woocommerce_connection"),
    path("integrations/woocommerce/<int:pk>/repair/", views.repair, name="woocommerce_repair"),
    path("integrations/woocommerce/<int:pk>/disconnect/", views.disconnect, name="woocommerce_disconnect"),
    path("hooks/woocommerce/<str:token>/", webhooks.WooCommerceWebhook.as_view(), name="woocommerce_webhook"),
]

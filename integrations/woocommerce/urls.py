from django.urls import path

from . import views, webhooks
from .sandbox import rest as sandbox_rest
from .sandbox import tracking as sandbox_tracking
from .sandbox import views as sandbox_views

urlpatterns = [
    path("integrations/woocommerce/connect/", views.connect, name="woocommerce_connect"),
    path("integrations/woocommerce/connect/keys/", views.connect_manual, name="woocommerce_connect_manual"),
    path("integrations/woocommerce/callback/", views.callback, name="woocommerce_callback"),
    path("integrations/woocommerce/return/", views.auth_return, name="woocommerce_return"),
    path("integrations/woocommerce/<int:pk>/", views.connection_detail, name="woocommerce_connection"),
    path("integrations/woocommerce/<int:pk>/repair/", views.repair, name="woocommerce_repair"),
    path("integrations/woocommerce/<int:pk>/disconnect/", views.disconnect, name="woocommerce_disconnect"),
    path("hooks/woocommerce/<str:token>/", webhooks.receive, name="woocommerce_webhook"),
]

# Mounted under /sandbox/woocommerce/ only when SANDBOX_ENABLED.
sandbox_urlpatterns = [
    path("_control/faults", sandbox_views.control_faults, name="woocommerce_sandbox_faults"),
    path("_control/stores", sandbox_views.control_stores, name="woocommerce_sandbox_stores"),
    path("_control/flush", sandbox_views.control_flush, name="woocommerce_sandbox_flush"),
    path("<slug:store>/wc-auth/v1/authorize", sandbox_views.authorize, name="woocommerce_sandbox_authorize"),
    path(
        "<slug:store>/wc-auth/v1/authorize/approve",
        sandbox_views.authorize_approve,
        name="woocommerce_sandbox_authorize_approve",
    ),
    path("<slug:store>/admin/orders/", sandbox_views.orders_page, name="woocommerce_sandbox_orders"),
    path("<slug:store>/wp-json/wc/v3/", sandbox_rest.api, name="woocommerce_sandbox_api_index"),
    path("<slug:store>/wp-json/wc/v3/<path:route>", sandbox_rest.api, name="woocommerce_sandbox_api"),
    path(
        "<slug:store>/wp-json/wc-shipment-tracking/v3/<path:route>",
        sandbox_tracking.api,
        name="woocommerce_sandbox_tracking",
    ),
]

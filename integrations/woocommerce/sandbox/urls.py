"""The WooCommerce sandbox's URL map, mounted under /sandbox/woocommerce/ only when SANDBOX_ENABLED.

Each store lives under /sandbox/woocommerce/<slug>/. The REST API authenticates with the store's
consumer keys, as WooCommerce does; the store pages and `_control` endpoints need a login and act
on the signed-in organisation's stores only.
"""

from django.urls import path

from connector.sandbox.pages import landing_urls

from . import provision
from . import rest as sandbox_rest
from . import tracking as sandbox_tracking
from . import views as sandbox_views

urlpatterns = [
    *landing_urls("woocommerce", provision.home, provision.try_view),
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
    path("<slug:store>/wp-json/", sandbox_rest.index, name="woocommerce_sandbox_rest_index"),
    path("<slug:store>/wp-json/wc/v3/", sandbox_rest.api, name="woocommerce_sandbox_api_index"),
    path("<slug:store>/wp-json/wc/v3/<path:route>", sandbox_rest.api, name="woocommerce_sandbox_api"),
    path(
        "<slug:store>/wp-json/wc-shipment-tracking/v3/<path:route>",
        sandbox_tracking.api,
        name="woocommerce_sandbox_tracking",
    ),
]

"""The ShipStation sandbox's URL map, mounted under /sandbox/shipstation/ only when SANDBOX_ENABLED.

The API paths authenticate as ShipStation does (Basic key/secret, V2 API-Key); the page and the
`_control` endpoints need a login and act on the signed-in organisation's sandbox accounts only.
"""

from django.urls import path

from connector.sandbox.pages import landing_urls
from integrations.shipstation.sandbox import demo_views, provision, v2_views
from integrations.shipstation.sandbox import views as sandbox

urlpatterns = [
    *landing_urls("shipstation", demo_views.orders_page, provision.try_view),
    path("accounts/listtags", sandbox.list_tags),
    path("stores", sandbox.list_stores),
    path("orders", sandbox.orders),
    path("orders/<int:order_id>", sandbox.order_detail),
    path("orders/createorder", sandbox.create_order),
    path("orders/createorders", sandbox.create_orders),
    path("orders/markasshipped", sandbox.mark_as_shipped),
    path("orders/createlabelfororder", sandbox.create_label_for_order),
    path("shipments", sandbox.shipments),
    path("shipments/voidlabel", sandbox.void_label),
    path("customers", sandbox.customers),
    path("customers/<int:customer_id>", sandbox.customer_detail),
    path("products", sandbox.products),
    path("products/<int:product_id>", sandbox.product_detail),
    path("webhooks", sandbox.webhooks),
    path("webhooks/subscribe", sandbox.subscribe),
    path("webhooks/<int:webhook_id>", sandbox.unsubscribe),
    path("v2/inventory", v2_views.inventory),
    path("v2/inventory_locations", v2_views.inventory_locations),
    path("v2/environment/webhooks", v2_views.webhooks),
    path("v2/environment/webhooks/<str:webhook_id>", v2_views.webhook_detail),
    path("v2/jwks", v2_views.jwks, name="shipstation_sandbox_jwks"),
    path("_control/v2/rotate_key", v2_views.control_rotate_key),
    path("_control/accounts", sandbox.control_accounts),
    path("_control/faults", sandbox.control_faults),
    path("_control/deliver", sandbox.control_deliver),
]

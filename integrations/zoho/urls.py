from django.urls import path

from integrations.zoho import rules_api, rules_views, views

urlpatterns = [
    path("integrations/zoho/connect/", views.connect, name="zoho_connect"),
    path("integrations/zoho/callback/", views.callback, name="zoho_callback"),
    path("integrations/zoho/<int:pk>/", views.connection_detail, name="zoho_connection"),
    path("integrations/zoho/<int:pk>/organization/", views.pick_organization, name="zoho_pick_organization"),
    path("integrations/zoho/<int:pk>/disconnect/", views.disconnect, name="zoho_disconnect"),
    # Order rules of a flow into Zoho Books: the builder pages and the REST API.
    path("integrations/zoho/flows/<int:pk>/rules/", rules_views.rule_list, name="zoho_rules"),
    path("integrations/zoho/flows/<int:pk>/rules/new/", rules_views.rule_edit, name="zoho_rule_new"),
    path("integrations/zoho/flows/<int:pk>/rules/row/", rules_views.rule_row, name="zoho_rule_row"),
    path("integrations/zoho/flows/<int:pk>/rules/preview/", rules_views.rules_preview, name="zoho_rules_preview"),
    path("integrations/zoho/flows/<int:pk>/rules/<int:index>/", rules_views.rule_edit, name="zoho_rule_edit"),
    path(
        "integrations/zoho/flows/<int:pk>/rules/<int:index>/toggle/", rules_views.rule_toggle, name="zoho_rule_toggle"
    ),
    path(
        "integrations/zoho/flows/<int:pk>/rules/<int:index>/delete/", rules_views.rule_delete, name="zoho_rule_delete"
    ),
    path("api/v1/flows/<int:pk>/rules/", rules_api.FlowRules.as_view(), name="zoho_api_rules"),
    path("api/v1/flows/<int:pk>/rules/preview/", rules_api.FlowRulesPreview.as_view(), name="zoho_api_rules_preview"),
]

from django.urls import path

from connector.web import deliveries, flows, reconcile, records, views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("connections/", views.connections, name="connections"),
    path("alerts/<int:pk>/resolve/", views.alert_resolve, name="alert_resolve"),
    path("audit/", views.audit_log, name="audit_log"),
    path("audit/<int:pk>/", records.record_detail, name="record_detail"),
    path("audit/<int:pk>/live/", records.record_live, name="record_live"),
    path("audit/<int:pk>/replay/", records.record_replay, name="record_replay"),
    path("audit/replay/", flows.bulk_replay, name="bulk_replay"),
    path("deliveries/", deliveries.delivery_list, name="deliveries"),
    path("deliveries/<int:pk>/", deliveries.delivery_detail, name="delivery_detail"),
    path("deliveries/<int:pk>/live/", deliveries.delivery_live, name="delivery_live"),
    path("deliveries/<int:pk>/replay/", deliveries.delivery_replay, name="delivery_replay"),
    path("flows/", flows.flow_list, name="flows"),
    path("flows/new/", flows.flow_create, name="flow_create"),
    path("flows/<int:pk>/", flows.flow_detail, name="flow_detail"),
    path("flows/<int:pk>/progress/", flows.flow_progress, name="flow_progress"),
    path("flows/<int:pk>/toggle/", flows.flow_toggle, name="flow_toggle"),
    path("flows/<int:pk>/run/", flows.flow_run_now, name="flow_run_now"),
    path("flows/<int:pk>/reconciliation/", reconcile.reconciliation, name="flow_reconciliation"),
]

from rest_framework.routers import DefaultRouter

from connector.web.api import views

router = DefaultRouter()
router.register("connections", views.ConnectionViewSet, basename="connection")
router.register("flows", views.FlowViewSet, basename="flow")
router.register("records", views.RecordViewSet, basename="record")
router.register("events", views.EventViewSet, basename="event")
router.register("deliveries", views.DeliveryViewSet, basename="delivery")
router.register("reconciliation-runs", views.ReconciliationRunViewSet, basename="reconciliation-run")

urlpatterns = router.urls

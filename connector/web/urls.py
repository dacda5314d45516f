from django.urls import path

from connector.web import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("connections/", views.connections, name="connections"),
    path("audit/", views.audit_log, name="audit_log"),
    path("audit/<int:pk>/", views.record_detail, name="record_detail"),
]

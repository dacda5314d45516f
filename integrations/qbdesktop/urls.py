from django.urls import path

from integrations.qbdesktop import soap, views

urlpatterns = [
    path("qbwc/", soap.qbwc_endpoint, name="qbwc"),
    path("integrations/qbdesktop/connect/", views.connect, name="qbdesktop_connect"),
    path("integrations/qbdesktop/<int:pk>/", views.detail, name="qbdesktop_detail"),
    path("integrations/qbdesktop/<int:pk>/password/", views.regenerate, name="qbdesktop_regenerate"),
    path("integrations/qbdesktop/<int:pk>/inventory/", views.inventory, name="qbdesktop_inventory"),
    path("integrations/qbdesktop/<int:pk>/qwc/", views.download_qwc, name="qbdesktop_qwc"),
]

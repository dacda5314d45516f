"""REST API under /api/v1/: read-only, tenant-scoped views over the core models."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import pagination, status, viewsets
from rest_framework import serializers as drf_serializers
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from accounts.permissions import IsOrganizationAdmin
from connector import engine
from connector.http import ApiError
from connector.inbox import replay_delivery
from connector.models import Connection, Delivery, Event, Flow, Record
from connector.reconcile import LedgerNotReady
from connector.web.api import serializers
from connector.web.api.permissions import IsOrganizationMember
from connector.web.audit import filter_records
from connector.web.params import InvalidParam, choice_param, id_param
from connector.web.reconcile import build_report, period_from, reconcilable_flow
from connector.webhook_tokens import NotRotatable, rotate_webhook_token


class KeysetPagination(pagination.CursorPagination):
    ordering = ("-id",)
    page_size = 50


class TenantViewSet(viewsets.ReadOnlyModelViewSet):
    """Every API queryset starts from `for_org`; another tenant's id is a 404."""

    model = None
    pagination_class = KeysetPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no organisation
            return self.model.objects.none()
        return self.model.objects.for_org(self.request.organization)

    def handle_exception(self, exc):
        # A malformed query parameter is a 400 naming it, in DRF's usual error shape.
        if isinstance(exc, InvalidParam):
            exc = ValidationError({exc.name: [exc.message]})
        return super().handle_exception(exc)


class ConnectionViewSet(TenantViewSet):
    model = Connection
    serializer_class = serializers.ConnectionSerializer

    @extend_schema(
        request=None,
        responses=inline_serializer(
            "WebhookRotation",
            {
                "reregistered": drf_serializers.BooleanField(),
                "message": drf_serializers.CharField(),
                "connection": serializers.ConnectionSerializer(),
            },
        ),
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="rotate-webhook-token",
        permission_classes=[IsOrganizationMember, IsOrganizationAdmin],
    )
    def rotate_webhook_token(self, request, pk=None):
        """Give the connection a new webhook address and re-register the vendor's webhooks at it; the
        old address answers 404 from then on. Owners and admins; 409 when there is nothing to rotate."""
        connection = self.get_object()
        try:
            rotation = rotate_webhook_token(connection, user=request.user)
        except NotRotatable as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(
            {
                "reregistered": rotation.reregistered,
                "message": rotation.message,
                "connection": self.get_serializer(connection).data,
            }
        )


class FlowViewSet(TenantViewSet):
    model = Flow
    serializer_class = serializers.FlowSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter("start", OpenApiTypes.DATE, description="First day (default: last month's)"),
            OpenApiParameter("end", OpenApiTypes.DATE, description="Last day, included"),
        ],
        responses=serializers.ReconciliationSerializer,
    )
    @action(detail=True, methods=["get"])
    def reconciliation(self, request, pk=None):
        """The flow's reconciliation for a period: every source order beside the ledger's own documents
        for it, with the totals per status and the net difference per currency. 404 for a flow that
        cannot be reconciled; 502 when either system cannot be read."""
        flow = reconcilable_flow(request.organization, self.get_object().pk)
        period = period_from(request.query_params)
        try:
            report = build_report(flow, period)
        except LedgerNotReady as exc:  # the ledger answers later (QuickBooks' Web Connector): ask again
            return Response({"detail": str(exc)}, status=status.HTTP_202_ACCEPTED)
        except ApiError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_502_BAD_GATEWAY)
        return Response(serializers.reconciliation_data(report))


class RecordViewSet(TenantViewSet):
    model = Record
    serializer_class = serializers.RecordSerializer

    @extend_schema(request=None, responses=serializers.RecordSerializer)
    @action(detail=True, methods=["post"])
    def replay(self, request, pk=None):
        """Re-run the record from fresh source data; replaying a synced record changes nothing."""
        record = self.get_object()
        engine.replay(record, user=request.user)
        record.refresh_from_db()
        return Response(self.get_serializer(record).data, status=status.HTTP_202_ACCEPTED)

    def get_queryset(self):
        return filter_records(super().get_queryset(), self.request.query_params)


class EventViewSet(TenantViewSet):
    model = Event
    serializer_class = serializers.EventSerializer

    def get_queryset(self):
        queryset = super().get_queryset()
        record = id_param(self.request.query_params, "record")
        return queryset.filter(record_id=record) if record is not None else queryset


class DeliveryViewSet(TenantViewSet):
    """Webhook deliveries, newest first; filter with ?status= and ?connection=."""

    model = Delivery
    serializer_class = serializers.DeliverySerializer

    def get_queryset(self):
        queryset = super().get_queryset().defer("body", "headers")
        params = self.request.query_params
        if status_value := choice_param(params, "status", Delivery.Status.values):
            queryset = queryset.filter(status=status_value)
        if (connection := id_param(params, "connection")) is not None:
            queryset = queryset.filter(connection_id=connection)
        return queryset

    @extend_schema(request=None, responses=serializers.DeliverySerializer)
    @action(detail=True, methods=["post"])
    def replay(self, request, pk=None):
        """Queue a failed delivery again; 409 for any other status (refused and duplicates never run)."""
        delivery = self.get_object()
        if not replay_delivery(delivery):
            return Response(
                {"detail": f"Only failed deliveries are replayed; this one is {delivery.status}."},
                status=status.HTTP_409_CONFLICT,
            )
        delivery.refresh_from_db()
        return Response(self.get_serializer(delivery).data, status=status.HTTP_202_ACCEPTED)

from __future__ import annotations

from django.urls import reverse
from rest_framework import serializers

from connector.models import Connection, Delivery, Event, Flow, ReconciliationRun, Record
from connector.web.redaction import redact


class ConnectionSerializer(serializers.ModelSerializer):
    """Credentials and webhook secrets are never serialised."""

    class Meta:
        model = Connection
        fields = ["id", "system", "label", "status", "settings", "external_account_id", "created_at", "updated_at"]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["settings"] = redact(data["settings"])
        return data


class FlowSerializer(serializers.ModelSerializer):
    class Meta:
        model = Flow
        fields = [
            "id",
            "preset",
            "name",
            "source",
            "target",
            "options",
            "enabled",
            "interval_seconds",
            "next_run_at",
            "last_run_at",
            "last_run_status",
            "last_run_error",
        ]


class RecordSerializer(serializers.ModelSerializer):
    class Meta:
        model = Record
        fields = [
            "id",
            "flow",
            "object_type",
            "source_id",
            "source_ref",
            "status",
            "target_id",
            "target_url",
            "target_ref",
            "result",
            "payload",
            "attempts",
            "last_error",
            "remediation",
            "created_at",
            "updated_at",
            "synced_at",
        ]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["payload"] = redact(data["payload"])
        return data


class EventSerializer(serializers.ModelSerializer):
    class Meta:
        model = Event
        fields = ["id", "record", "kind", "message", "data", "created_at"]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["data"] = redact(data["data"])
        return data


class DeliverySerializer(serializers.ModelSerializer):
    """A webhook delivery's audit fields; the body and headers stay on the server."""

    class Meta:
        model = Delivery
        fields = [
            "id",
            "connection",
            "topic",
            "delivery_id",
            "status",
            "error",
            "signature_valid",
            "received_at",
            "processed_at",
        ]


# --- Reconciliation (connector.reconcile): amounts are Decimal strings, never floats ---------------


class LedgerDocumentSerializer(serializers.Serializer):
    kind = serializers.CharField()
    document_id = serializers.CharField()
    number = serializers.CharField()
    reference = serializers.CharField()
    amount = serializers.DecimalField(max_digits=20, decimal_places=2)
    currency = serializers.CharField()
    date = serializers.DateField()
    status = serializers.CharField()
    url = serializers.CharField()
    credit = serializers.BooleanField()
    void = serializers.BooleanField()


class ReconciliationLineSerializer(serializers.Serializer):
    status = serializers.CharField()
    label = serializers.CharField()
    reference = serializers.CharField()
    source_id = serializers.CharField(allow_null=True)
    order_date = serializers.DateField(allow_null=True)
    currency = serializers.CharField()
    source_amount = serializers.DecimalField(max_digits=20, decimal_places=2, allow_null=True)
    ledger_amount = serializers.DecimalField(max_digits=20, decimal_places=2, allow_null=True)
    difference = serializers.DecimalField(max_digits=20, decimal_places=2, allow_null=True)
    documents = LedgerDocumentSerializer(many=True)
    note = serializers.CharField()
    record = serializers.IntegerField(allow_null=True)
    kind = serializers.CharField(default="order")  # "order" or "shipment"


class ReconciliationTotalSerializer(serializers.Serializer):
    currency = serializers.CharField()
    source = serializers.DecimalField(max_digits=20, decimal_places=2)
    ledger = serializers.DecimalField(max_digits=20, decimal_places=2)
    difference = serializers.DecimalField(max_digits=20, decimal_places=2)


class ReconciliationRunSerializer(serializers.ModelSerializer):
    """A stored reconciliation run without its lines; `status_url` answers its progress."""

    status_url = serializers.SerializerMethodField()
    page_url = serializers.SerializerMethodField()

    class Meta:
        model = ReconciliationRun
        fields = [
            "id",
            "flow",
            "start",
            "end",
            "status",
            "trigger",
            "counts",
            "line_count",
            "problem_count",
            "vendor_calls",
            "message",
            "remediation",
            "attempts",
            "next_attempt_at",
            "created_at",
            "started_at",
            "finished_at",
            "replayed_at",
            "status_url",
            "page_url",
        ]
        read_only_fields = fields

    def get_status_url(self, run) -> str:
        return reverse("reconciliation-run-detail", args=[run.pk])

    def get_page_url(self, run) -> str:
        return f"{reverse('flow_reconciliation', args=[run.flow_id])}?run={run.pk}"


class ReconciliationSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    balanced = serializers.BooleanField()
    counts = serializers.DictField(child=serializers.IntegerField())
    totals = ReconciliationTotalSerializer(many=True)
    lines = ReconciliationLineSerializer(many=True)
    run = ReconciliationRunSerializer(required=False, help_text="The stored run these lines come from.")


def reconciliation_data(report, run=None) -> dict:
    lines = [
        {
            "status": str(line.status),
            "label": line.label,
            "reference": line.reference,
            "source_id": line.order.source_id if line.order else None,
            "order_date": line.order.date if line.order else None,
            "currency": line.currency,
            "source_amount": line.source_amount if line.order else None,
            "ledger_amount": line.ledger_amount if line.documents else None,
            "difference": line.difference,
            "documents": [vars(d) for d in line.documents],
            "note": line.note,
            "record": line.record_id,
            "kind": line.kind,
        }
        for line in report.lines
    ]
    data = {
        "start": report.period.start,
        "end": report.period.end,
        "balanced": report.balanced,
        "counts": {str(k): v for k, v in report.counts().items()},
        "totals": report.totals(),
        "lines": lines,
    }
    if run is not None:
        data["run"] = run
    return ReconciliationSerializer(data).data

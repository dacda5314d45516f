from __future__ import annotations

from rest_framework import serializers

from connector.models import Connection, Delivery, Event, Flow, Record
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

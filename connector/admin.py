from django.contrib import admin

from connector.models import Alert, Connection, Delivery, Event, Flow, Link, Record


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    list_display = ("label", "system", "organization", "status", "updated_at")
    list_filter = ("system", "status")
    exclude = ("credentials", "webhook_secret")  # secrets are never rendered


@admin.register(Flow)
class FlowAdmin(admin.ModelAdmin):
    list_display = ("__str__", "organization", "preset", "enabled", "next_run_at", "last_run_status")
    list_filter = ("preset", "enabled")


@admin.register(Record)
class RecordAdmin(admin.ModelAdmin):
    list_display = ("__str__", "organization", "flow", "status", "attempts", "updated_at")
    list_filter = ("status", "object_type")
    search_fields = ("source_ref", "source_id", "search_text")


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "organization", "record", "kind", "message")
    list_filter = ("kind",)


@admin.register(Link)
class LinkAdmin(admin.ModelAdmin):
    list_display = ("connection", "object_type", "external_id", "canonical_key")


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ("received_at", "connection", "topic", "status", "signature_valid")
    list_filter = ("status",)


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ("created_at", "organization", "key", "level", "resolved_at")

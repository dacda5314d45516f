from django.db import migrations

# The inventory push goes to whichever order source the flow has: its flow options and alert keys no
# longer name ShipStation (or ShipStation's API version).
RENAMED_OPTIONS = {"push_inventory_v2": "push_inventory", "shipstation_inventory_location_id": "inventory_location_id"}
OLD_ALERT_PREFIX, NEW_ALERT_PREFIX = "qbd-ss-inventory:", "qbd-inventory-push:"


def _rename_options(apps, renames: dict[str, str]) -> None:
    Flow = apps.get_model("connector", "Flow")
    for flow in Flow.objects.filter(target__system="qbdesktop").only("id", "options"):
        options = dict(flow.options or {})
        moved = {new: options.pop(old) for old, new in renames.items() if old in options}
        if moved:
            Flow.objects.filter(pk=flow.pk).update(options={**options, **moved})


def _rename_alerts(apps, old: str, new: str) -> None:
    Alert = apps.get_model("connector", "Alert")
    for alert in Alert.objects.filter(key__startswith=old).only("id", "key"):
        Alert.objects.filter(pk=alert.pk).update(key=new + alert.key[len(old) :])


def forwards(apps, schema_editor) -> None:
    _rename_options(apps, RENAMED_OPTIONS)
    _rename_alerts(apps, OLD_ALERT_PREFIX, NEW_ALERT_PREFIX)


def backwards(apps, schema_editor) -> None:
    _rename_options(apps, {new: old for old, new in RENAMED_OPTIONS.items()})
    _rename_alerts(apps, NEW_ALERT_PREFIX, OLD_ALERT_PREFIX)


class Migration(migrations.Migration):
    dependencies = [
        ("qbdesktop", "0006_job_not_before"),
        ("connector", "0007_record_result_event_delivery"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]

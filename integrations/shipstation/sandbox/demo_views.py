"""A small page for a person to create, edit and ship orders in their organisation's sandbox."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils import timezone

from integrations.shipstation import timeutil
from integrations.shipstation.sandbox import state
from integrations.shipstation.sandbox.delivery import serving_base_url
from integrations.shipstation.sandbox.models import SandboxAccount, SandboxOrder
from integrations.shipstation.sandbox.state import SandboxError


class OrderForm(forms.Form):
    order_number = forms.CharField(max_length=50)
    customer_email = forms.EmailField()
    customer_name = forms.CharField(max_length=100)
    sku = forms.CharField(max_length=50)
    item_name = forms.CharField(max_length=100)
    quantity = forms.IntegerField(min_value=1, max_value=1000, initial=1)
    unit_price = forms.DecimalField(max_digits=10, decimal_places=2, min_value=0)
    shipping = forms.DecimalField(max_digits=10, decimal_places=2, min_value=0, initial=0)
    status = forms.ChoiceField(choices=[(s, s) for s in state.OPEN_STATUSES], initial="awaiting_shipment")


def order_payload(data: dict, *, order_key: str | None = None) -> dict:
    address = {
        "name": data["customer_name"],
        "street1": "1 Demo Street",
        "city": "Austin",
        "state": "TX",
        "postalCode": "78701",
        "country": "US",
    }
    return {
        "orderNumber": data["order_number"],
        "orderKey": order_key or f"demo-{data['order_number']}",
        "orderDate": timeutil.to_filter(timezone.now()),
        "orderStatus": data["status"],
        "customerEmail": data["customer_email"],
        "customerUsername": data["customer_email"],
        "billTo": address,
        "shipTo": address,
        "items": [
            {
                "lineItemKey": "1",
                "sku": data["sku"],
                "name": data["item_name"],
                "quantity": int(data["quantity"]),
                "unitPrice": float(data["unit_price"]),
            }
        ],
        "amountPaid": float(data["unit_price"] * data["quantity"] + data["shipping"]),
        "shippingAmount": float(data["shipping"]),
        "taxAmount": 0,
    }


@login_required
def orders_page(request):
    with serving_base_url(request.build_absolute_uri("/sandbox/shipstation/")):
        return _orders_page(request)


def _orders_page(request):
    accounts = list(SandboxAccount.objects.for_org(request.organization).order_by("id"))
    account = next(
        (a for a in accounts if str(a.pk) == request.POST.get("account", request.GET.get("account", ""))), None
    )
    account = account or (accounts[0] if accounts else None)
    form = OrderForm()
    if request.method == "POST" and account is not None:
        action = request.POST.get("action")
        try:
            if action in ("create", "edit"):
                form = OrderForm(request.POST)
                if form.is_valid():
                    key = request.POST.get("order_key") if action == "edit" else None
                    order, created = state.upsert_order(account, order_payload(form.cleaned_data, order_key=key))
                    messages.success(request, f"Order {order.order_number} {'created' if created else 'updated'}.")
                    return redirect(f"{request.path}?account={account.pk}")
            elif action == "ship":
                order = SandboxOrder.objects.get(account=account, pk=int(request.POST["order_id"]))
                shipment = state.create_label(
                    account,
                    {
                        "orderId": order.pk,
                        "carrierCode": "stamps_com",
                        "serviceCode": "usps_priority_mail",
                        "shipDate": timezone.localdate().isoformat(),
                    },
                )
                messages.success(
                    request, f"Label created for {order.order_number}: tracking {shipment.tracking_number}."
                )
                return redirect(f"{request.path}?account={account.pk}")
            elif action == "void":
                shipment = state.void_label(account, request.POST["shipment_id"])
                messages.success(
                    request, f"Label {shipment.tracking_number} voided (ShipStation sends no webhook for voids)."
                )
                return redirect(f"{request.path}?account={account.pk}")
        except (SandboxError, SandboxOrder.DoesNotExist, KeyError, ValueError) as exc:
            messages.error(request, f"Sandbox refused: {exc}")
    orders = []
    if account is not None:
        since = timezone.now() - timedelta(days=365)
        orders = list(
            SandboxOrder.objects.filter(account=account, modify_date__gte=since)
            .prefetch_related("shipments")
            .order_by("-id")[:100]
        )
    return render(
        request,
        "shipstation/sandbox_orders.html",
        {"accounts": accounts, "account": account, "orders": orders, "form": form},
    )

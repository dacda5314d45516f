"""REST API for a Zoho Books flow's order rules, beside the core API under /api/v1/.

    GET  /api/v1/flows/<id>/rules/           the rules, and the events they can name
    PUT  /api/v1/flows/<id>/rules/           {"rules": [...]} replaces them; 400 lists every problem
    POST /api/v1/flows/<id>/rules/preview/   {"rules": [...]} (default: the saved rules) → what they
                                             would have done to the flow's last 50 orders; read-only

The same authentication, permission and tenancy as the core API (DRF defaults; another
organisation's flow, or a flow not into Zoho Books, is a 404). The rule format is rules.py's.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations.zoho import rules
from integrations.zoho.rules_views import current_rules, preview_rows, rules_flow, save_rules


class RulesSerializer(serializers.Serializer):
    rules = serializers.ListField(child=serializers.DictField(), help_text="Rules as described in rules.py.")


class RulesReadSerializer(RulesSerializer):
    flow = serializers.IntegerField()
    events = serializers.DictField(child=serializers.CharField())


class ProblemsSerializer(serializers.Serializer):
    errors = serializers.ListField(child=serializers.CharField())


class PreviewRowSerializer(serializers.Serializer):
    record_id = serializers.IntegerField()
    order = serializers.CharField()
    status = serializers.CharField()
    total = serializers.CharField()
    outcome = serializers.CharField()
    fired = serializers.ListField(child=serializers.DictField())
    notes = serializers.CharField(allow_null=True)


class PreviewSerializer(serializers.Serializer):
    orders = PreviewRowSerializer(many=True)


def _rules_in(data) -> tuple[list | None, list[str]]:
    value = data.get("rules") if isinstance(data, dict) else None
    problems = rules.validate(value)
    return (value if not problems else None), problems


class FlowRules(APIView):
    @extend_schema(responses=RulesReadSerializer, summary="The flow's order rules")
    def get(self, request, pk: int):
        flow = rules_flow(request, pk)
        return Response({"flow": flow.pk, "rules": current_rules(flow), "events": rules.EVENTS})

    @extend_schema(
        request=RulesSerializer,
        responses={200: RulesReadSerializer, 400: ProblemsSerializer},
        summary="Replace the flow's order rules",
    )
    def put(self, request, pk: int):
        flow = rules_flow(request, pk)
        new_rules, problems = _rules_in(request.data)
        if problems:
            return Response({"errors": problems}, status=status.HTTP_400_BAD_REQUEST)
        save_rules(flow, new_rules)
        return Response({"flow": flow.pk, "rules": current_rules(flow), "events": rules.EVENTS})


class FlowRulesPreview(APIView):
    @extend_schema(
        request=RulesSerializer,
        responses={200: PreviewSerializer, 400: ProblemsSerializer},
        summary="What rules would have done to the flow's last 50 orders (changes nothing)",
    )
    def post(self, request, pk: int):
        flow = rules_flow(request, pk)
        if isinstance(request.data, dict) and "rules" in request.data:
            candidate, problems = _rules_in(request.data)
            if problems:
                return Response({"errors": problems}, status=status.HTTP_400_BAD_REQUEST)
        else:
            candidate = current_rules(flow)
        return Response({"orders": preview_rows(flow, candidate)})

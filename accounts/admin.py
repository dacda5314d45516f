from django.contrib import admin

from accounts.models import ApiToken, Invitation, Membership, Organization, Profile

# The admin is for the operator, not for merchants: it shows every organisation's data.
admin.site.site_header = "Connector administration (all organisations)"
admin.site.index_title = "Every tenant's data: staff only"


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("name", "created_at")
    search_fields = ("name",)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "organization", "role")
    list_filter = ("role",)


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ("email", "organization", "role", "created_at", "accepted_at")
    exclude = ("token",)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "organization", "key_hint", "expires_at", "last_used_at", "revoked_at")
    exclude = ("key_hash",)
    readonly_fields = ("user", "organization", "key_hint", "created_at", "last_used_at")

    def has_add_permission(self, request) -> bool:
        return False  # keys are created in Settings → API tokens, where the plaintext is shown once


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "time_zone")

from django.urls import path
from django.views.generic import RedirectView

from accounts import views

urlpatterns = [
    path("settings/", views.settings_home, name="settings"),
    path("settings/organization/", views.organization_settings, name="settings_organization"),
    path("settings/members/", views.team, name="team"),
    path("settings/members/role/", views.change_role, name="change_role"),
    path("settings/members/remove/", views.remove_member, name="remove_member"),
    path("settings/invitations/<int:pk>/revoke/", views.revoke_invitation, name="revoke_invitation"),
    path("settings/api-tokens/", views.api_tokens, name="settings_api_tokens"),
    path("settings/api-tokens/<int:pk>/revoke/", views.revoke_api_token, name="revoke_api_token"),
    path("settings/notifications/", views.notification_settings, name="settings_notifications"),
    path("settings/profile/", views.profile_settings, name="settings_profile"),
    path("team/", RedirectView.as_view(pattern_name="team")),  # the old address of the members page
    path("invitations/<str:token>/", views.accept_invitation, name="accept_invitation"),
    path("notifications/unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("organization/switch/", views.switch_organization, name="switch_organization"),
]

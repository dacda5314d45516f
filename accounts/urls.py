from django.urls import path

from accounts import views

urlpatterns = [
    path("team/", views.team, name="team"),
    path("team/invitations/<int:pk>/revoke/", views.revoke_invitation, name="revoke_invitation"),
    path("invitations/<str:token>/", views.accept_invitation, name="accept_invitation"),
    path("organization/switch/", views.switch_organization, name="switch_organization"),
]

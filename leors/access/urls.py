from __future__ import annotations

from django.urls import path

from leors.access import views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("apply/", views.apply, name="apply"),
    path("apply/sent/", views.apply_sent, name="apply_sent"),
    path("apply/verify/<str:token>/", views.application_verify_email, name="application_verify_email"),
    path("sign-in-report/<str:token>/", views.sign_in_report, name="sign_in_report"),
    path("applications/<str:reference>/", views.application_detail, name="application_detail"),
    path("applications/<str:reference>/answer/", views.application_answer, name="application_answer"),
    path("applications/<str:reference>/withdraw/", views.application_withdraw, name="application_withdraw"),
    path("documents/application/<int:document_id>/", views.application_document_download, name="application_document"),
]

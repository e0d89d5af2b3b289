from __future__ import annotations

from django.urls import path

from cases import views

app_name = "cases"

urlpatterns = [
    path("", views.case_list, name="list"),
    path("new/", views.case_new, name="new"),
    path("new/subject-row/", views.case_new_subject_row, name="new_subject_row"),
    path("new/document-row/", views.case_new_document_row, name="new_document_row"),
    path("documents/<int:document_id>/", views.case_document_download, name="document"),
    path("productions/<int:production_id>/", views.production_download, name="production"),
    path("<str:reference>/", views.case_detail, name="detail"),
    path("<str:reference>/messages/", views.case_message, name="message"),
    path("<str:reference>/withdraw/", views.case_withdraw, name="withdraw"),
    path("<str:reference>/share/", views.case_share, name="share"),
    path("<str:reference>/recovery/acknowledge/", views.recovery_acknowledge, name="recovery_acknowledge"),
]

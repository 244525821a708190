from django.urls import path

from billing import views

app_name = "billing"

urlpatterns = [
    path("receipts/<int:pk>/", views.receipt, name="receipt"),
    path("statements/<int:year>/<int:month>/", views.statement, name="statement"),
    path("statements/<int:year>/<int:month>/csv/", views.statement_download, name="statement-csv"),
    path("topup/done/", views.topup_done, name="topup-done"),
    path("topup/cancelled/", views.topup_cancelled, name="topup-cancelled"),
]

from django.urls import path

from transactions.api import views

urlpatterns = [
    path("transactions/", views.TransactionListApi.as_view(), name="transaction-list"),
    path("transactions/export/", views.TransactionExportApi.as_view(), name="transaction-export"),
    path("transactions/current/", views.CurrentSessionApi.as_view(), name="transaction-current"),
    path("transactions/last/", views.LastUsageApi.as_view(), name="transaction-last"),
    path("transactions/<int:pk>/", views.TransactionDetailApi.as_view(), name="transaction-detail"),
    path("transactions/<int:pk>/stop/", views.TransactionStopApi.as_view(), name="transaction-stop"),
    path("transactions/<int:pk>/meter-values/", views.TransactionMeterValuesApi.as_view(),
         name="transaction-meter-values"),
    path("reports/monthly/", views.MonthlyReportApi.as_view(), name="report-monthly"),
    path("reports/monthly/csv/", views.MonthlyReportCsvApi.as_view(), name="report-monthly-csv"),
]

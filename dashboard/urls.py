from django.urls import path

from dashboard import views

app_name = "dashboard"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("login/", views.DashboardLoginView.as_view(), name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("stations/add/", views.station_edit, name="station-add"),
    path("stations/<int:pk>/", views.station_detail, name="station"),
    path("stations/<int:pk>/edit/", views.station_edit, name="station-edit"),
    path("users/", views.user_list, name="users"),
    path("users/balances/", views.user_balances, name="user-balances"),
    path("users/<int:pk>/role/", views.user_role, name="user-role"),
    path("report/", views.report, name="report"),
    path("report/data/", views.report_data, name="report-data"),
    path("report.csv", views.report_csv, name="report-csv"),
    path("transactions/", views.transaction_list, name="transactions"),
    path("transactions.csv", views.transaction_csv, name="transactions-csv"),
]

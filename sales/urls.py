from django.urls import path

from . import views

app_name = "sales"

urlpatterns = [
    path("partials/store-takings/", views.StoreTakingsPartialView.as_view(), name="store_takings"),
]

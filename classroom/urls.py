from django.urls import path

from . import monitoring, pages, views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("healthz", monitoring.healthz, name="healthz"),
    path("metrics", monitoring.metrics, name="metrics"),
    path("classes/<slug:slug>/", views.class_page, name="class"),
    path("classes/<slug:slug>/lessons/", views.start_lesson, name="start-lesson"),
    path("rooms/<uuid:room_id>/", views.room_page, name="room"),
    path("recess/", views.recess_list, name="recess"),
    path("rooms/<uuid:room_id>/log/", views.room_log, name="room-log"),
    path("rooms/<uuid:room_id>/log.csv", views.room_log_csv, name="room-log-csv"),
    path("rooms/live.json", pages.live_rooms, name="live-rooms"),
    path("rooms/<uuid:room_id>/attendance/", pages.attendance_page, name="room-attendance-page"),
    path("rooms/<uuid:room_id>/attendance.csv", pages.attendance_csv, name="room-attendance"),
]

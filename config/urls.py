from django.conf import settings
from django.urls import include, path

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("accounts/", include("accounts.urls")),
    path("", include("classroom.urls")),
    path("", include("slides.urls")),
]

if settings.DEBUG:
    from django.contrib import admin

    urlpatterns.append(path("admin/", admin.site.urls))

# A database that does not answer is a styled 503 that retries by itself, not a bare 500.
handler500 = "classroom.unavailable.server_error"

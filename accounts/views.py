from django.contrib.auth import views as auth_views

from .forms import SchoolLoginForm


class LoginView(auth_views.LoginView):
    form_class = SchoolLoginForm
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

"""403, 404 and 500 in the app's layout, in the person's language, with a way back."""

from __future__ import annotations

import pytest
from django.test import Client, RequestFactory

from classroom.unavailable import server_error
from tests.conftest import login

pytestmark = pytest.mark.django_db


def test_404_is_styled_in_french_with_a_way_back(student):
    response = login(student).get("/classes/9z/")
    html = response.content.decode()
    assert response.status_code == 404
    assert 'data-error="404"' in html and "Page introuvable" in html
    assert '<a class="button primary" href="/" data-link="home">Retour à mes classes</a>' in html
    assert "Léa Martin" in html  # the app's header, with the person


def test_404_speaks_english_to_an_english_browser():
    html = Client(HTTP_ACCEPT_LANGUAGE="en").get("/no/such/page/").content.decode()
    assert "Page not found" in html and 'lang="en"' in html and 'data-link="home"' in html


def test_403_is_styled_with_a_way_back(student):
    response = login(student).get("/classes/5b/")
    html = response.content.decode()
    assert response.status_code == 403
    assert 'data-error="403"' in html and "Accès refusé" in html and 'data-link="home"' in html


def test_500_is_styled_in_the_person_language():
    request = RequestFactory().get("/", HTTP_ACCEPT_LANGUAGE="en")
    response = server_error(request)
    html = response.content.decode()
    assert response.status_code == 500
    assert 'data-error="500"' in html and "Something went wrong" in html and 'data-link="home"' in html

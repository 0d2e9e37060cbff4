"""The class page's slides section: the upload form for its teachers, the decks for everyone."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from tests.conftest import login

pytestmark = pytest.mark.django_db


class _Forms(HTMLParser):
    """Collect upload forms and the file inputs inside them."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, str | None]] = []
        self.file_inputs: list[int] = []
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "form" and attributes.get("data-action") == "upload-slides":
            self.forms.append(attributes)
            self.file_inputs.append(0)
            self._inside = True
        elif tag == "input" and self._inside and attributes.get("type") == "file":
            self.file_inputs[-1] += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._inside = False


def _forms(html: str) -> _Forms:
    parser = _Forms()
    parser.feed(html)
    return parser


def test_teacher_sees_one_upload_form_with_one_file_input(class_6a, teacher):
    parsed = _forms(login(teacher).get("/classes/6a/").content.decode())
    assert len(parsed.forms) == 1
    assert parsed.file_inputs == [1]
    form = parsed.forms[0]
    assert (form["method"], form["action"], form["enctype"]) == ("post", "/classes/6a/slides/", "multipart/form-data")


def test_the_file_input_has_a_label(class_6a, teacher):
    html = login(teacher).get("/classes/6a/").content.decode()
    assert '<label for="slides-file">' in html and 'id="slides-file"' in html


@pytest.mark.parametrize("persona", ["student", "supervisor"])
def test_others_see_no_upload_form(class_6a, persona, request):
    html = login(request.getfixturevalue(persona)).get("/classes/6a/").content.decode()
    assert _forms(html).forms == []


def test_students_see_the_ready_decks(ready_deck, student):
    html = login(student).get("/classes/6a/", headers={"Accept-Language": "en"}).content.decode()
    assert f'data-deck="{ready_deck.pk}"' in html
    assert "3 pages" in html
    assert f"/slides/{ready_deck.pk}/pages/1.webp?size=small" in html


def test_supervisors_see_the_list_but_no_page_image(ready_deck, supervisor):
    html = login(supervisor).get("/classes/6a/").content.decode()
    assert f'data-deck="{ready_deck.pk}"' in html
    assert f"/slides/{ready_deck.pk}/pages/" not in html

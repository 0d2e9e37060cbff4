"""The whiteboard in a supervised recess: the supervisor draws, gives a pupil the pen, and pupils take it home."""

from __future__ import annotations

import io

import pypdfium2 as pdfium
import pytest
from asgiref.sync import sync_to_async

from slides.models import Stroke
from tests.conftest import login

pytestmark = pytest.mark.django_db(transaction=True)

START = {"tool": "pen", "color": "#1f77b4", "width": 0.004, "points": [[0.2, 0.2]]}


async def test_the_supervisor_draws_on_the_whiteboard_and_gives_a_pupil_the_pen(
    enter, alive, recess, supervisor, student
):
    supervisor_socket = await enter(supervisor, recess)
    alive(supervisor_socket)
    pupil = await enter(student, recess)
    alive(pupil)
    # pupils may neither open the whiteboard nor draw on it unasked
    assert (await pupil.request("board.open"))["code"] == "forbidden"
    assert (await supervisor_socket.request("board.open"))["type"] == "ok"
    assert (await pupil.expect("slides.page"))["board"] is True
    assert (await pupil.request("annotation.add", page=1, stroke=START))["code"] == "forbidden"

    # the supervisor's stroke reaches the pupil while it is drawn
    await supervisor_socket.request("annotation.add", page=1, key="sup", final=False, stroke=START)
    added = await pupil.expect("annotation.added")
    assert added["deck"] is None and added["stroke"]["final"] is False
    await supervisor_socket.request("annotation.extend", page=1, key="sup", points=[[0.3, 0.3]], final=True)
    assert (await pupil.expect("annotation.extended", id=added["stroke"]["id"]))["final"] is True

    # given the pen, the pupil draws and the supervisor sees it
    assert (await supervisor_socket.request("draw.set", id=str(student.pk), draw=True))["type"] == "ok"
    await pupil.expect("participant.updated")
    mine = {**START, "points": [[0.6, 0.6], [0.7, 0.7]]}
    assert (await pupil.request("annotation.add", page=1, stroke=mine))["type"] == "ok"
    # (the supervisor's own stroke may come first: with several servers its event can follow its reply)
    while (await supervisor_socket.expect("annotation.added"))["stroke"]["by"] != str(student.pk):
        pass
    assert await sync_to_async(Stroke.objects.filter(room=recess, deck__isnull=True).count)() == 2

    # the pupil takes the whiteboard home as a PDF
    response = await sync_to_async(lambda: login(student).get(f"/rooms/{recess.pk}/board.pdf"))()
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert len(pdfium.PdfDocument(io.BytesIO(response.content))) == 1

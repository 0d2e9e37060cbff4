"""The recess creation form: title, classes and an optional weekly schedule."""

from __future__ import annotations

import re
from datetime import time
from typing import Any

from django import forms
from django.utils.datastructures import MultiValueDict
from django.utils.translation import gettext_lazy as _

from .actions.recess import Slot
from .models import RecessSlot, SchoolClass

WINDOW = re.compile(r"^(\d{1,2})[:h](\d{2})\s*-\s*(\d{1,2})[:h](\d{2})$")


def _parse_windows(text: str) -> list[tuple[time, time]]:
    """Read "10:00-10:15, 15:30-15:45" into (start, end) pairs; raise ValidationError otherwise."""
    windows = []
    for part in filter(None, (chunk.strip() for chunk in re.split(r"[,;\n]", text))):
        match = WINDOW.match(part)
        try:
            start, end = (
                (time(int(match[1]), int(match[2])), time(int(match[3]), int(match[4]))) if match else (None, None)
            )
        except ValueError:
            start = end = None
        if start is None or end is None:
            raise forms.ValidationError(_("“%(part)s” is not a time window like 10:00-10:15."), params={"part": part})
        if start >= end:
            raise forms.ValidationError(_("In “%(part)s”, the end must come after the start."), params={"part": part})
        windows.append((start, end))
    return windows


class RecessForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=200)
    classes = forms.ModelMultipleChoiceField(
        label=_("Classes"),
        queryset=SchoolClass.objects.filter(active=True),
        to_field_name="slug",
        widget=forms.CheckboxSelectMultiple,
        error_messages={
            "required": _("Choose at least one class."),
            "invalid_choice": _("%(value)s is not a class of the school."),
        },
    )
    days = forms.TypedMultipleChoiceField(
        label=_("Days (optional: a weekly schedule)"),
        choices=RecessSlot.Weekday.choices,
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    times = forms.CharField(
        label=_("Times on those days"),
        help_text=_("For example: 10:00-10:15, 15:30-15:45. Leave days and times empty to open it now."),
        required=False,
        max_length=500,
    )

    TIME_ROWS = 3
    """Rows of time pickers (`start`/`end`, repeated) the page shows; `times` as text works too."""

    def time_rows(self) -> list[tuple[str, str]]:
        """The (start, end) pickers to show: what was sent, then empty rows up to TIME_ROWS."""
        data = self.data  # a QueryDict when bound to a request, an empty MultiValueDict when not
        sent = (
            list(zip(data.getlist("start"), data.getlist("end"), strict=False))
            if isinstance(data, MultiValueDict)
            else []
        )
        filled = [(start, end) for start, end in sent if start or end]
        return filled + [("", "")] * max(0, self.TIME_ROWS - len(filled))

    def clean_times(self) -> list[tuple[time, time]]:
        # the pickers' rows ("10:00" and "10:15") join the typed windows as "10:00-10:15"
        parts = [self.cleaned_data.get("times", "")]
        for start, end in self.time_rows():
            if start or end:
                parts.append(f"{start or '?'}-{end or '?'}")
        return _parse_windows(", ".join(part for part in parts if part))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        days, windows = data.get("days") or [], data.get("times") or []
        if days and not windows and "times" not in self.errors:
            self.add_error("times", _("Give the times of the recess on the chosen days."))
        if windows and not days:
            self.add_error("days", _("Choose the days of these times."))
        return data

    def slots(self) -> list[Slot]:
        return [
            Slot(weekday=day, starts_at=start, ends_at=end)
            for day in self.cleaned_data.get("days") or []
            for start, end in self.cleaned_data.get("times") or []
        ]

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class SchoolClass(models.Model):
    """A class of the school (`Classe_<name>`), its students and its teaching team (`Equipe_<name>`)."""

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    active = models.BooleanField(default=True)
    students = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="classes", blank=True)
    teachers = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="taught_classes", blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("class")
        verbose_name_plural = _("classes")

    def __str__(self) -> str:
        return self.name


def default_students_can() -> dict[str, bool]:
    return {"audio": True, "video": True, "screen": False, "chat": True}


class Room(models.Model):
    """A live room: a lesson of one class, a supervised recess of several, or a breakout group of a lesson."""

    class Kind(models.TextChoices):
        LESSON = "lesson", _("Lesson")
        RECESS = "recess", _("Recess")
        GROUP = "group", _("Group")

    class EndReason(models.TextChoices):
        ENDED = "ended", _("Ended")
        TIMEOUT = "timeout", _("Timed out")
        NO_SUPERVISOR = "no_supervisor", _("No supervisor")
        GROUPS_CLOSED = "groups_closed", _("Groups closed")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    title = models.CharField(max_length=200)
    school_class = models.ForeignKey(
        SchoolClass, null=True, blank=True, on_delete=models.CASCADE, related_name="lessons"
    )
    classes = models.ManyToManyField(SchoolClass, related_name="recesses", blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=20, choices=EndReason.choices, blank=True)
    locked = models.BooleanField(default=False)
    chat_locked = models.BooleanField(default=False)
    safe_mode = models.BooleanField(default=False)
    students_can = models.JSONField(default=default_students_can)
    # A lesson left open by its teacher ends by itself at this time.
    closes_at = models.DateTimeField(null=True, blank=True)
    # A recess without supervisor since this time ends after RECESS_GRACE_SECONDS.
    unsupervised_since = models.DateTimeField(null=True, blank=True)
    # A group: its lesson (which also gives the group its `school_class`).
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="groups")
    # A lesson whose groups run with a timer: they close at this time.
    groups_end_at = models.DateTimeField(null=True, blank=True)
    # A lesson whose groups students choose themselves (`group.join`).
    groups_choose = models.BooleanField(default=False)
    # A group whose member called the teacher (`help.request`), until a moderator answers.
    help_requested_at = models.DateTimeField(null=True, blank=True)
    # The lesson timer a moderator started (docs/protocol.md, "Lesson timer"): null when none.
    timer_started_at = models.DateTimeField(null=True, blank=True)
    timer_ends_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["ended_at", "kind"])]

    def __str__(self) -> str:
        return self.title

    @property
    def is_live(self) -> bool:
        return self.ended_at is None


class RecessSlot(models.Model):
    """A weekly time window in which a scheduled recess is open to its students (local time)."""

    class Weekday(models.IntegerChoices):
        """As `datetime.weekday()`."""

        MONDAY = 0, _("Monday")
        TUESDAY = 1, _("Tuesday")
        WEDNESDAY = 2, _("Wednesday")
        THURSDAY = 3, _("Thursday")
        FRIDAY = 4, _("Friday")
        SATURDAY = 5, _("Saturday")
        SUNDAY = 6, _("Sunday")

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="slots")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    starts_at = models.TimeField()
    ends_at = models.TimeField()

    class Meta:
        ordering = ["weekday", "starts_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(weekday__lte=6), name="recess_slot_weekday"),
            models.CheckConstraint(condition=models.Q(starts_at__lt=models.F("ends_at")), name="recess_slot_order"),
        ]

    def __str__(self) -> str:
        return f"{self.weekday} {self.starts_at}-{self.ends_at}"


class Participant(models.Model):
    """A user's standing in one room: admitted, waiting, denied or removed, and their live flags.

    Kept in the database (not in a process) so that reconnecting, several tabs and several
    ASGI processes all see the same hand, presenter right and mute.
    """

    class Status(models.TextChoices):
        WAITING = "waiting", _("Waiting")
        ADMITTED = "admitted", _("Admitted")
        DENIED = "denied", _("Denied")
        REMOVED = "removed", _("Removed")

    class WaitingReason(models.TextChoices):
        NOT_IN_CLASS = "not_in_class", _("Not in the class")
        LOCKED = "locked", _("Room locked")
        NO_SUPERVISOR = "no_supervisor", _("No supervisor")
        CLOSED = "closed", _("Outside the recess schedule")

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="participants")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices)
    waiting_reason = models.CharField(max_length=20, choices=WaitingReason.choices, blank=True)
    # Open sockets of this user in this room, across tabs and processes.
    connections = models.PositiveIntegerField(default=0)
    # Channel names of those sockets, oldest first: the oldest goes past ROOM_SOCKETS_PER_USER.
    sockets = models.JSONField(default=list, blank=True)
    presenter = models.BooleanField(default=False)
    hand_raised_at = models.DateTimeField(null=True, blank=True)
    # Set by a moderator's mute; cleared when the participant unmutes themselves.
    muted_audio = models.BooleanField(default=False)
    muted_video = models.BooleanField(default=False)
    # What is being published and forwarded now (reported by the media bridge).
    audio = models.BooleanField(default=False)
    video = models.BooleanField(default=False)
    screen = models.BooleanField(default=False)
    # A moderator listening in silently to a breakout group: in no one's list, publishing nothing,
    # receiving sound only (docs/protocol.md, "Breakout groups").
    listening = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["room", "user"], name="one_participant_per_room_user")]
        indexes = [models.Index(fields=["room", "status", "connections"])]

    def __str__(self) -> str:
        return f"{self.user} in {self.room} ({self.status})"

    @property
    def present(self) -> bool:
        return self.status == self.Status.ADMITTED and self.connections > 0


class GroupMember(models.Model):
    """A user's place in a breakout group (a room of kind `group`); one live group per user and lesson."""

    group = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["group", "user"], name="one_membership_per_group_user")]

    def __str__(self) -> str:
        return f"{self.user} in {self.group}"


class Attendance(models.Model):
    """One stay of a user in a room: from the first socket opened to the last one closed."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="attendance")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    joined_at = models.DateTimeField()
    left_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["joined_at", "id"]
        indexes = [models.Index(fields=["room", "user", "left_at"])]

    def __str__(self) -> str:
        return f"{self.user} in {self.room}"


class ChatMessage(models.Model):
    """A chat message, public (`recipient` null) or private; plain text, never HTML."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="chat_messages")
    sender = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    text = models.TextField(max_length=1000)
    created_at = models.DateTimeField(auto_now_add=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["room", "created_at"])]

    def __str__(self) -> str:
        return self.text[:50]


class Poll(models.Model):
    """A poll of a room: open, then closed, then possibly published to everyone."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        CLOSED = "closed", _("Closed")
        PUBLISHED = "published", _("Published")

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="polls")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    question = models.CharField(max_length=300)
    options = models.JSONField()
    anonymous = models.BooleanField(default=False)
    multiple = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.question


class PollVote(models.Model):
    """One user's vote on a poll; a second vote is refused by the unique constraint."""

    poll = models.ForeignKey(Poll, on_delete=models.CASCADE, related_name="votes")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    choices = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["poll", "user"], name="one_vote_per_user_and_poll")]

    def __str__(self) -> str:
        return f"{self.user} on {self.poll}"


class Report(models.Model):
    """A participant's report to the room's moderators."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="reports")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField(max_length=1000)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.user}: {self.text[:50]}"


class RoomLogEntry(models.Model):
    """The room's log: joins, leaves, mutes, removals, reports, deleted messages and moderation."""

    class Kind(models.TextChoices):
        JOIN = "join", _("Joined")
        LEAVE = "leave", _("Left")
        MUTE = "mute", _("Muted")
        REMOVAL = "removal", _("Removed")
        REPORT = "report", _("Report")
        CHAT_DELETED = "chat_deleted", _("Chat message deleted")
        ADMIT = "admit", _("Admitted")
        DENY = "deny", _("Denied")
        ENDED = "ended", _("Room ended")
        SAFE_MODE = "safe_mode", _("Safe mode on or off")
        GROUPS_OPENED = "groups_opened", _("Groups opened")
        GROUP_MOVE = "group_move", _("Moved into a group")
        GROUPS_CLOSED = "groups_closed", _("Groups closed")

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="log")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    target = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    data = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["room", "at"])]

    def __str__(self) -> str:
        return f"{self.kind} in {self.room}"

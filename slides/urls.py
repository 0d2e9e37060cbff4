from django.urls import path

from . import views

urlpatterns = [
    path("classes/<slug:slug>/slides/", views.class_decks, name="class-decks"),
    path("slides/<int:deck_id>/delete/", views.delete_deck, name="slide-deck-delete"),
    path("slides/<int:deck_id>/pages/<int:page>.<str:ext>", views.page_image, name="slide-page"),
    path("rooms/<uuid:room_id>/decks/<int:deck_id>/annotated.pdf", views.annotated_deck, name="annotated-deck"),
    path("rooms/<uuid:room_id>/board.pdf", views.annotated_board, name="annotated-board"),
]

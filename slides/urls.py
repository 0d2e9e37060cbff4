from django.urls import path

from . import views

urlpatterns = [
    path("classes/<slug:slug>/slides/", views.class_decks, name="class-decks"),
    path("slides/<int:deck_id>/delete/", views.delete_deck, name="slide-deck-delete"),
    path("slides/<int:deck_id>/pages/<int:page>.<str:ext>", views.page_image, name="slide-page"),
]

// The room page: wires the socket, the state and each part of the page.
//
// Other modules (media, slides) plug in with:
//   import { room } from "/static/js/room/main.js";
//   room.on("media.*", (message) => …);      // server messages under a prefix
//   await room.send({ type: "media.offer", … }); // request with ref: ok or RoomError
//   room.post({ type: "media.candidate", … });   // fire and forget
//   room.stage.attach(userId, "camera", videoElement);
//   room.registerMedia({ setSource: async (kind, on) => boolean });

import { loadStrings } from "./i18n.js";
import { Room } from "./store.js";
import { Stage } from "./stage.js";
import { mountScreens } from "./screens.js";
import { mountParticipants } from "./participants.js";
import { mountWaiting } from "./waiting.js";
import { mountChat } from "./chat.js";
import { mountPolls } from "./polls.js";
import { mountModeration } from "./moderation.js";
import { mountControls } from "./controls.js";
import { mountSlides } from "./slides.js";
import { mountAnnotations } from "./annotations.js";
import { mountPanel } from "./panel.js";
import { mountGroups } from "./groups.js";
import { mountTimer } from "./timer.js";
import { mountAnnouncements } from "./announcements.js";

loadStrings();

const configElement = document.getElementById("room-config");
const config = JSON.parse(configElement.textContent);
config.closeCodes = JSON.parse(document.getElementById("close-codes").textContent);

export const room = new Room(config);
room.stage = new Stage(room);

mountScreens(room);
mountPanel(room);
mountParticipants(room);
mountWaiting(room);
mountChat(room);
mountPolls(room);
mountModeration(room);
mountControls(room);
mountSlides(room);
mountAnnotations(room);
mountTimer(room);
mountAnnouncements(room);

mountGroups(room);

// For the browser console and tests; modules should import `room` instead.
window.classroomRoom = room;

room.client.connect();

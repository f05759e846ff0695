// Rooms as Element uses them: two users create a room, invite, join and chat; the timeline is paginated back
// through 500 messages with the SDK's createMessagesRequest; messages are edited (m.replace), reacted to
// (m.annotation), answered in a thread (m.thread) and redacted; the room is upgraded and the tombstone is followed.
// The clients do not run the SDK's sync loop here (sync.test.js and media-push.test.js do): every read goes through
// the endpoint the SDK uses for it, so that each answer is checked on its own.
// Spec: https://spec.matrix.org/v1.19/client-server-api/#rooms and the modules of each feature.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import sdk from "../lib/sdk.js";
import { registerClient } from "../lib/users.js";
import { rejectsWithMatrixError } from "../lib/assert-matrix.js";

const { Direction, EventType, RelationType, Thread, ThreadFilterType } = sdk;

/** Every event of a room, oldest first, read back with /messages pages of `pageSize` until the start. */
async function readWholeRoom(client, roomId, pageSize) {
    const events = [];
    let from = null;
    for (let page = 0; page < 10000; page++) {
        const response = await client.createMessagesRequest(roomId, from, pageSize, Direction.Backward);
        events.push(...response.chunk);
        if (!response.end) {
            break;
        }
        from = response.end;
    }
    return events.reverse();
}

function text(body) {
    return { msgtype: "m.text", body };
}

describe("rooms with two real clients", () => {
    let alice;
    let bob;
    let roomId;

    before(async () => {
        alice = await registerClient();
        bob = await registerClient();
        // What startClient does first: ask /versions which thread APIs the server has (v1.4+: the stable ones).
        const support = await alice.client.doesServerSupportThread();
        Thread.setServerSideSupport(support.threads);
        Thread.setServerSideListSupport(support.list);
        Thread.setServerSideFwdPaginationSupport(support.fwdPagination);
        ({ room_id: roomId } = await alice.client.createRoom({ name: "js rooms", preset: "private_chat" }));
        await rejectsWithMatrixError(bob.client.joinRoom(roomId), "M_FORBIDDEN", 403);
        await alice.client.invite(roomId, bob.userId);
        await bob.client.joinRoom(roomId);
    });

    after(() => {
        alice?.client.stopClient();
        bob?.client.stopClient();
    });

    test("both users see each other's messages", async () => {
        const { event_id: fromAlice } = await alice.client.sendTextMessage(roomId, "hello bob");
        const { event_id: fromBob } = await bob.client.sendTextMessage(roomId, "hello alice");
        const atBob = await readWholeRoom(bob.client, roomId, 50);
        const atAlice = await readWholeRoom(alice.client, roomId, 50);
        for (const events of [atBob, atAlice]) {
            const ids = events.map((e) => e.event_id);
            assert.ok(ids.indexOf(fromAlice) >= 0 && ids.indexOf(fromAlice) < ids.indexOf(fromBob), "both messages, in order");
        }
        const members = await alice.client.getJoinedRoomMembers(roomId);
        assert.deepEqual(Object.keys(members.joined).sort(), [alice.userId, bob.userId].sort());
    });

    test("bob pages back through 500 messages in order to the start of the room", async () => {
        const { room_id: busy } = await alice.client.createRoom({ name: "busy", preset: "public_chat" });
        await bob.client.joinRoom(busy);
        const sent = [];
        for (let i = 0; i < 500; i++) {
            const { event_id: id } = await alice.client.sendTextMessage(busy, `message ${i}`);
            sent.push(id);
        }

        const events = await readWholeRoom(bob.client, busy, 100);
        const seen = events.filter((e) => e.type === EventType.RoomMessage).map((e) => e.event_id);
        assert.deepEqual(seen, sent, "every message once, oldest first");
        assert.equal(events[0].type, EventType.RoomCreate, "pagination reached the room's start");
        assert.equal(events.filter((e) => e.type === EventType.RoomMessage)[123].content.body, "message 123");
    });

    test("createMessagesRequest pages with tokens until the start of the room", async () => {
        const { room_id: paged } = await alice.client.createRoom({ name: "paged" });
        const sent = [];
        for (let i = 0; i < 30; i++) {
            sent.push((await alice.client.sendTextMessage(paged, `p${i}`)).event_id);
        }
        const seen = [];
        let from = null;
        for (let i = 0; i < 20; i++) {
            const page = await alice.client.createMessagesRequest(paged, from, 7, Direction.Backward);
            seen.push(...page.chunk.filter((e) => e.type === "m.room.message").map((e) => e.event_id));
            if (!page.end) {
                break;
            }
            from = page.end;
        }
        assert.deepEqual(seen.reverse(), sent);
    });

    test("an edit is bundled with the original and listed as its replacement", async () => {
        const { event_id: original } = await alice.client.sendTextMessage(roomId, "helo wrold");
        const { event_id: edit } = await alice.client.sendEvent(roomId, EventType.RoomMessage, {
            ...text("* hello world"),
            "m.new_content": text("hello world"),
            "m.relates_to": { rel_type: RelationType.Replace, event_id: original },
        });
        const raw = await bob.client.fetchRoomEvent(roomId, original);
        assert.equal(raw.unsigned["m.relations"]["m.replace"].event_id, edit);
        assert.equal(raw.unsigned["m.relations"]["m.replace"].content["m.new_content"].body, "hello world");

        const { events } = await bob.client.relations(roomId, original, RelationType.Replace);
        assert.deepEqual(events.map((e) => e.getId()), [edit]);
        // The SDK applies a bundled edit when it maps the event, as for events from /messages, /context and /sync.
        const mapped = bob.client.getEventMapper()(raw);
        assert.equal(mapped.replacingEventId(), edit);
        assert.equal(mapped.getContent().body, "hello world");
    });

    test("reactions are listed as annotations with their keys", async () => {
        const { event_id: target } = await alice.client.sendTextMessage(roomId, "react to me");
        await bob.client.sendEvent(roomId, EventType.Reaction, { "m.relates_to": { rel_type: RelationType.Annotation, event_id: target, key: "👍" } });
        await alice.client.sendEvent(roomId, EventType.Reaction, { "m.relates_to": { rel_type: RelationType.Annotation, event_id: target, key: "🎉" } });
        const { events } = await alice.client.relations(roomId, target, RelationType.Annotation, EventType.Reaction);
        assert.deepEqual(events.map((e) => e.getRelation().key).sort(), ["🎉", "👍"].sort());
    });

    test("a thread reply is summarised on its root and the thread is listed", async () => {
        const { event_id: root } = await alice.client.sendTextMessage(roomId, "thread root");
        const { event_id: reply } = await bob.client.sendMessage(roomId, root, text("in the thread"));
        const raw = await alice.client.fetchRoomEvent(roomId, root);
        const summary = raw.unsigned["m.relations"]["m.thread"];
        assert.equal(summary.count, 1);
        assert.equal(summary.latest_event.event_id, reply);
        assert.equal(summary.current_user_participated, true);

        const threads = await bob.client.createThreadListMessagesRequest(roomId, null, 10, Direction.Backward, ThreadFilterType.All);
        assert.equal(threads.chunk[0].event_id, root);
        const mine = await bob.client.createThreadListMessagesRequest(roomId, null, 10, Direction.Backward, ThreadFilterType.My);
        assert.ok(mine.chunk.some((e) => e.event_id === root));
    });

    test("a redacted message loses its content for both users", async () => {
        const { event_id: target } = await bob.client.sendTextMessage(roomId, "regrettable");
        await bob.client.redactEvent(roomId, target, undefined, { reason: "oops" });
        const raw = await alice.client.fetchRoomEvent(roomId, target);
        assert.deepEqual(raw.content, {});
        assert.equal(raw.unsigned.redacted_because.content.reason, "oops");
        const mapped = alice.client.getEventMapper()(raw);
        assert.ok(mapped.isRedacted());
    });

    test("upgrading the room tombstones it and bob follows to the new room", async () => {
        const { room_id: old } = await alice.client.createRoom({ name: "to upgrade", preset: "public_chat", room_version: "11" });
        await bob.client.joinRoom(old);
        const { replacement_room: replacement } = await alice.client.upgradeRoom(old, "12");
        assert.notEqual(replacement, old);

        const tombstone = await bob.client.getStateEvent(old, EventType.RoomTombstone, "");
        assert.equal(tombstone.replacement_room, replacement);
        await rejectsWithMatrixError(bob.client.sendTextMessage(old, "the old room is read-only now"), "M_FORBIDDEN", 403);
        await bob.client.joinRoom(tombstone.replacement_room);
        const create = await bob.client.getStateEvent(replacement, EventType.RoomCreate, "");
        assert.equal(create.predecessor.room_id, old);
        assert.equal(create.room_version, "12");
        assert.equal((await bob.client.getStateEvent(replacement, EventType.RoomName, "")).name, "to upgrade");
        const members = await bob.client.getJoinedRoomMembers(replacement);
        assert.deepEqual(Object.keys(members.joined).sort(), [alice.userId, bob.userId].sort());
        await rejectsWithMatrixError(bob.client.upgradeRoom(replacement, "12"), "M_FORBIDDEN", 403);
    });
});

// Syncing as real clients do it: two matrix-js-sdk clients run the SDK's own sync loop (startClient: push rules,
// an uploaded filter, an initial sync, then long-polling /sync with since), and the second sees what the first does
// as it happens: messages, an edit, typing, a read receipt, presence. A client stopped and started again with its
// old sync token catches up with everything sent meanwhile, and a raw /sync with that token lists it all in order.
// Simplified sliding sync (MSC4186, which the SDK does not speak; Element X does) is driven over raw HTTP.
// Spec: https://spec.matrix.org/v1.19/client-server-api/#syncing, #typing-notifications, #receipts, #presence,
// #event-replacements; MSC4186 (POST /_matrix/client/unstable/org.matrix.simplified_msc3575/sync).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import sdk from "../lib/sdk.js";
import { request } from "../lib/server.js";
import { registerClient } from "../lib/users.js";

const { ClientEvent, EventType, RelationType, RoomEvent, RoomMemberEvent, SyncState } = sdk;

const WAIT_MS = 20_000;

/**
 * Resolves with the arguments of the first `event` from `emitter` for which `predicate(...args)` holds; fails after
 * `ms` with `what`. Listen before acting, so that nothing is missed.
 */
function waitFor(emitter, event, predicate, what, ms = WAIT_MS) {
    return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
            emitter.off(event, listener);
            reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
        }, ms);
        function listener(...args) {
            let ok;
            try {
                ok = predicate(...args);
            } catch (e) {
                ok = false;
            }
            if (ok) {
                clearTimeout(timer);
                emitter.off(event, listener);
                resolve(args);
            }
        }
        emitter.on(event, listener);
    });
}

/** Polls `condition` until it holds (for state the SDK updates without a dedicated event); fails after `ms`. */
async function eventually(condition, what, ms = WAIT_MS) {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
        if (condition()) {
            return;
        }
        await new Promise((r) => setTimeout(r, 50));
    }
    assert.fail(`timed out after ${ms} ms waiting for ${what}`);
}

/** Starts the SDK's sync loop and waits until the first sync is processed. */
async function start(client) {
    const prepared = waitFor(client, ClientEvent.Sync, (state) => state === SyncState.Prepared || state === SyncState.Syncing, "the first sync");
    const failed = waitFor(client, ClientEvent.Sync, (state) => state === SyncState.Error, "a sync error").then(([, , data]) => {
        throw new Error(`the sync loop failed: ${data?.error?.message ?? "unknown error"}`);
    });
    failed.catch(() => {});
    await client.startClient({ initialSyncLimit: 10 });
    await Promise.race([prepared, failed]);
}

function text(body) {
    return { msgtype: "m.text", body };
}

/** A live timeline event of `roomId` (not back-paginated) accepted by `predicate`, at `client`. */
function liveEvent(client, roomId, predicate, what) {
    return waitFor(
        client,
        RoomEvent.Timeline,
        (event, room, toStartOfTimeline) => room?.roomId === roomId && !toStartOfTimeline && predicate(event),
        what,
    ).then(([event]) => event);
}

/** The bodies of the m.room.message events of a live timeline, oldest first. */
function bodies(timeline) {
    return timeline.getEvents().filter((e) => e.getType() === EventType.RoomMessage).map((e) => e.getContent().body);
}

describe("sync with two clients running the SDK's sync loop", () => {
    let alice;
    let bob;
    let roomId;

    before(async () => {
        alice = await registerClient();
        bob = await registerClient();
        ({ room_id: roomId } = await alice.client.createRoom({ name: "js sync", preset: "private_chat" }));
        await alice.client.invite(roomId, bob.userId);
        await bob.client.joinRoom(roomId);
        await Promise.all([start(alice.client), start(bob.client)]);
        await eventually(() => bob.client.getRoom(roomId)?.getMyMembership() === "join", "bob's client to know the room");
        await eventually(() => alice.client.getRoom(roomId)?.getMember(bob.userId)?.membership === "join", "alice's client to see bob join");
    });

    after(() => {
        alice?.client.stopClient();
        bob?.client.stopClient();
    });

    test("bob's client receives alice's messages live, in the order sent", async () => {
        const arrived = [];
        const all = waitFor(
            bob.client,
            RoomEvent.Timeline,
            (event, room, toStart) => {
                if (room?.roomId === roomId && !toStart && event.getType() === EventType.RoomMessage && event.getSender() === alice.userId) {
                    arrived.push(event.getId());
                }
                return arrived.length === 3;
            },
            "three messages",
        );
        const sent = [];
        for (const body of ["one", "two", "three"]) {
            sent.push((await alice.client.sendTextMessage(roomId, body)).event_id);
        }
        await all;
        assert.deepEqual(arrived, sent, "each message once, in order");
        const timeline = bob.client.getRoom(roomId).getLiveTimeline();
        assert.deepEqual(bodies(timeline).slice(-3), ["one", "two", "three"]);
    });

    test("an edit (m.replace) reaches bob and replaces the message's content", async () => {
        const originalArrived = liveEvent(bob.client, roomId, (e) => e.getContent().body === "helo wrold", "the original");
        const { event_id: original } = await alice.client.sendTextMessage(roomId, "helo wrold");
        await originalArrived;

        const editArrived = liveEvent(bob.client, roomId, (e) => e.getRelation()?.rel_type === RelationType.Replace, "the edit");
        const { event_id: edit } = await alice.client.sendEvent(roomId, EventType.RoomMessage, {
            ...text("* hello world"),
            "m.new_content": text("hello world"),
            "m.relates_to": { rel_type: RelationType.Replace, event_id: original },
        });
        const editEvent = await editArrived;
        assert.equal(editEvent.getId(), edit);
        assert.equal(editEvent.getRelation().event_id, original);

        const target = bob.client.getRoom(roomId).findEventById(original);
        await eventually(() => target.replacingEventId() === edit, "the SDK to apply the edit");
        assert.equal(target.getContent().body, "hello world");
        assert.equal(target.getOriginalContent().body, "helo wrold");
    });

    test("bob sees alice start and stop typing", async () => {
        const typing = waitFor(
            bob.client,
            RoomMemberEvent.Typing,
            (event, member) => member.roomId === roomId && member.userId === alice.userId && member.typing,
            "alice typing",
        );
        await alice.client.sendTyping(roomId, true, 30_000);
        const [event] = await typing;
        assert.equal(event.getType(), "m.typing");
        assert.deepEqual(event.getContent().user_ids, [alice.userId]);

        const stopped = waitFor(
            bob.client,
            RoomMemberEvent.Typing,
            (_, member) => member.roomId === roomId && member.userId === alice.userId && !member.typing,
            "alice to stop typing",
        );
        await alice.client.sendTyping(roomId, false);
        await stopped;
        assert.equal(bob.client.getRoom(roomId).getMember(alice.userId).typing, false);
    });

    test("bob sees alice's read receipt on his message", async () => {
        const atAlice = liveEvent(alice.client, roomId, (e) => e.getContent().body === "did you read this?", "bob's question at alice");
        const { event_id: question } = await bob.client.sendTextMessage(roomId, "did you read this?");
        const event = await atAlice;

        const receipt = waitFor(
            bob.client,
            RoomEvent.Receipt,
            (ev, room) => room.roomId === roomId && ev.getContent()[question]?.["m.read"]?.[alice.userId] !== undefined,
            "alice's receipt",
        );
        await alice.client.sendReadReceipt(event);
        const [receiptEvent] = await receipt;
        assert.equal(typeof receiptEvent.getContent()[question]["m.read"][alice.userId].ts, "number");
        const room = bob.client.getRoom(roomId);
        assert.equal(room.getEventReadUpTo(alice.userId), question);
        assert.ok(room.getUsersReadUpTo(room.findEventById(question)).includes(alice.userId));
    });

    test("bob sees alice's presence and status message", async () => {
        const status = `writing tests ${Date.now()}`;
        // The SDK emits UserEvent.Presence only when the state (online, ...) changes; every m.presence event from
        // /sync is a ClientEvent.Event, and updates the User.
        const seen = waitFor(
            bob.client,
            ClientEvent.Event,
            (event) => event.getType() === "m.presence" && event.getSender() === alice.userId && event.getContent().status_msg === status,
            "alice's status message",
        );
        await alice.client.setPresence({ presence: "online", status_msg: status });
        const [event] = await seen;
        assert.equal(event.getContent().presence, "online");
        const user = bob.client.getUser(alice.userId);
        assert.equal(user.presence, "online");
        assert.equal(user.presenceStatusMsg, status);
        assert.ok(user.lastPresenceTs > 0);
    });

    test("bob's client, stopped and started again with its sync token, catches up with everything, in order", async () => {
        const lastSeen = liveEvent(bob.client, roomId, (e) => e.getContent().body === "before the break", "the last message before the break");
        await alice.client.sendTextMessage(roomId, "before the break");
        await lastSeen;
        bob.client.stopClient();
        const token = bob.client.store.getSyncToken();
        assert.ok(token, "the SDK kept a sync token");

        // More than one sync answer's timeline holds (10 by default), and a change of state, while bob is away.
        const sent = [];
        for (let i = 0; i < 25; i++) {
            sent.push(`while away ${i}`);
            await alice.client.sendTextMessage(roomId, sent[i]);
        }
        await alice.client.setRoomTopic(roomId, "new topic");
        await alice.client.sendTextMessage(roomId, "last one");
        sent.push("last one");

        // A raw /sync from that token, with room for everything: every event sent meanwhile, in order, none missing.
        const filter = encodeURIComponent(JSON.stringify({ room: { timeline: { limit: 100 } } }));
        const raw = await request("GET", `/_matrix/client/v3/sync?since=${encodeURIComponent(token)}&timeout=0&filter=${filter}`, {
            accessToken: bob.client.getAccessToken(),
        });
        assert.equal(raw.status, 200, raw.text);
        const joined = raw.json.rooms.join[roomId];
        assert.equal(joined.timeline.limited, false, "all of it fits");
        const timelineEvents = joined.timeline.events;
        assert.deepEqual(
            timelineEvents.filter((e) => e.type === EventType.RoomMessage).map((e) => e.content.body),
            sent,
        );
        assert.equal(timelineEvents.filter((e) => e.type === EventType.RoomTopic).length, 1);
        assert.ok(!timelineEvents.some((e) => e.content?.body === "before the break"), "nothing from before the token");

        // The SDK itself, started again from its token: its first sync is incremental (limited: more than 10
        // events), so it back-paginates the gap as a client scrolling up would, down to where it stopped.
        const caughtUp = liveEvent(bob.client, roomId, (e) => e.getContent().body === "last one", "the last message");
        await start(bob.client);
        await caughtUp;
        const room = bob.client.getRoom(roomId);
        assert.equal(room.currentState.getStateEvents(EventType.RoomTopic, "").getContent().topic, "new topic");
        for (let i = 0; i < 20 && !bodies(room.getLiveTimeline()).includes("before the break"); i++) {
            await bob.client.scrollback(room, 10);
        }
        const seen = bodies(room.getLiveTimeline());
        const from = seen.lastIndexOf("before the break");
        assert.ok(from >= 0, "back-pagination reached the last message bob saw");
        assert.deepEqual(seen.slice(from + 1), sent, "every message sent meanwhile, once, in order");
    });
});

describe("simplified sliding sync (MSC4186) over raw HTTP", () => {
    const path = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync";
    let carol;

    /** One sliding sync request; `pos` continues a connection, `timeout` makes it a long-poll. */
    async function slidingSync(body, { pos, timeout = 0 } = {}) {
        const query = `?timeout=${timeout}` + (pos ? `&pos=${encodeURIComponent(pos)}` : "");
        const response = await request("POST", path + query, { body, accessToken: carol.client.getAccessToken() });
        assert.equal(response.status, 200, response.text);
        return response.json;
    }

    /** Room IDs of a response, most recent first (clients order by bump_stamp; MSC4186 sends no list order). */
    function byRecency(response) {
        return Object.entries(response.rooms)
            .sort(([, a], [, b]) => b.bump_stamp - a.bump_stamp)
            .map(([id]) => id);
    }

    function lists(top = [0, 0]) {
        return {
            all: { ranges: [[0, 19]], timeline_limit: 1, required_state: [["m.room.name", ""]] },
            top: { ranges: [top], timeline_limit: 1, required_state: [["m.room.name", ""]] },
        };
    }

    before(async () => {
        carol = await registerClient();
    });

    test("lists rooms by recency; a new message moves its room to the top and arrives on a long-poll with pos", async () => {
        const rooms = [];
        for (const name of ["first", "second", "third"]) {
            rooms.push((await carol.client.createRoom({ name, preset: "private_chat" })).room_id);
        }
        const [first, second, third] = rooms;
        await carol.client.sendTextMessage(first, "first is the most recent");

        const initial = await slidingSync({ lists: lists() });
        assert.equal(initial.lists.all.count, 3);
        assert.deepEqual(byRecency(initial), [first, third, second]);
        assert.deepEqual(initial.rooms[first].lists.sort(), ["all", "top"]);
        assert.deepEqual(initial.rooms[third].lists, ["all"], "only the most recent room is in the top range");
        assert.equal(initial.rooms[first].name, "first");
        assert.equal(initial.rooms[first].initial, true);
        assert.deepEqual(initial.rooms[first].timeline.map((e) => e.content.body), ["first is the most recent"]);

        // The long-poll waits, then wakes with the room that got a message, now at the top.
        const started = Date.now();
        const poll = slidingSync({ lists: lists() }, { pos: initial.pos, timeout: 20_000 });
        let answered = false;
        poll.then(() => (answered = true), () => {});
        await new Promise((r) => setTimeout(r, 500));
        assert.equal(answered, false, "nothing has happened yet");
        const { event_id: wakeUp } = await carol.client.sendTextMessage(second, "second speaks");
        const update = await poll;
        assert.ok(Date.now() - started < 15_000, "the message ended the wait");
        assert.notEqual(update.pos, initial.pos);
        assert.deepEqual(Object.keys(update.rooms), [second], "only the room that changed");
        const room = update.rooms[second];
        assert.deepEqual(room.timeline.map((e) => e.event_id), [wakeUp]);
        assert.deepEqual(room.lists.sort(), ["all", "top"], "it moved into the top range");
        assert.ok(room.bump_stamp > initial.rooms[first].bump_stamp, "it is now the most recent");
        assert.equal(update.lists.all.count, 3);

        // A fresh connection lists the rooms in the new order.
        const fresh = await slidingSync({ lists: lists([0, 2]) });
        assert.deepEqual(byRecency(fresh), [second, first, third]);
    });
});

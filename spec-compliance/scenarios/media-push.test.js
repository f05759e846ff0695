// Media and unread counts as Element uses them.
// Media: alice uploads a real PNG with uploadContent; bob downloads it and asks for thumbnails through the
// authenticated endpoints (/_matrix/client/v1/media, the URLs of mxcUrlToHttp with useAuthentication, fetched
// with his access token as Element's service worker does); the image is written and the thumbnails are read by
// lib/png.js, independent of the server's image library.
// Unread counts: bob runs the SDK's sync loop with Element's options and reads room.getUnreadNotificationCount,
// which in an unencrypted room is exactly what the server's unread_notifications said (the SDK computes counts
// itself only for encrypted events, and zeroes them locally only when the last event is the user's own).
// Spec: https://spec.matrix.org/v1.19/client-server-api/#content-repository,
// https://spec.matrix.org/v1.19/client-server-api/#receiving-notifications and #push-rules.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import sdk from "../lib/sdk.js";
import { registerClient } from "../lib/users.js";
import { decodePng, encodeRgbPng } from "../lib/png.js";

const { ClientEvent, NotificationCountType, PendingEventOrdering, RoomEvent, SyncState } = sdk;

// A 64x48 picture in four quadrants, so that a thumbnail can be checked to show the same picture.
const RED = [255, 0, 0];
const GREEN = [0, 255, 0];
const BLUE = [0, 0, 255];
const WHITE = [255, 255, 255];
const quadrants = (x, y, w, h) => (y < h / 2 ? (x < w / 2 ? RED : GREEN) : x < w / 2 ? BLUE : WHITE);

/** Asserts that pixel (x, y) of a decoded PNG is opaque and close to `colour` (resampling blurs edges only). */
function assertColour(image, x, y, colour, what) {
    const [r, g, b, a] = image.pixel(x, y);
    const close = Math.abs(r - colour[0]) <= 24 && Math.abs(g - colour[1]) <= 24 && Math.abs(b - colour[2]) <= 24 && a >= 230;
    assert.ok(close, `${what}: pixel (${x}, ${y}) is rgba(${r}, ${g}, ${b}, ${a}), expected about rgb(${colour.join(", ")})`);
}

/** GET with an optional access token, as Element fetches authenticated media. Returns { status, type, bytes, json }. */
async function fetchMedia(url, accessToken) {
    const response = await fetch(url, { headers: accessToken ? { Authorization: `Bearer ${accessToken}` } : {} });
    const bytes = Buffer.from(await response.arrayBuffer());
    const type = response.headers.get("content-type") ?? "";
    const json = type.startsWith("application/json") ? JSON.parse(bytes.toString("utf8")) : undefined;
    return { status: response.status, type, bytes, json };
}

describe("media through the authenticated endpoints", () => {
    let alice;
    let bob;
    let png;
    let mxc;

    before(async () => {
        alice = await registerClient();
        bob = await registerClient();
        png = encodeRgbPng(64, 48, (x, y) => quadrants(x, y, 64, 48));
        // What Element checks before it uses /_matrix/client/v1/media: the server advertises spec v1.11.
        assert.equal(await bob.client.isVersionSupported("v1.11"), true, "the server advertises v1.11 (authenticated media)");
        ({ content_uri: mxc } = await alice.client.uploadContent(png, { name: "quadrants.png", type: "image/png" }));
        assert.match(mxc, /^mxc:\/\/[^/]+\/[A-Za-z0-9_-]+$/);
    });

    after(() => {
        alice?.client.stopClient();
        bob?.client.stopClient();
    });

    test("bob downloads alice's upload with his token: the same bytes, as image/png", async () => {
        const url = bob.client.mxcUrlToHttp(mxc, undefined, undefined, undefined, false, true, true);
        assert.match(url, /\/_matrix\/client\/v1\/media\/download\//);
        const got = await fetchMedia(url, bob.client.getAccessToken());
        assert.equal(got.status, 200, `download answered ${got.status}: ${got.bytes.toString("utf8", 0, 200)}`);
        assert.equal(got.type.split(";")[0].trim(), "image/png");
        assert.ok(got.bytes.equals(png), `downloaded ${got.bytes.length} bytes that differ from the ${png.length} uploaded`);
        const image = decodePng(got.bytes);
        assert.deepEqual([image.width, image.height], [64, 48]);
    });

    test("a scaled thumbnail fits the box, keeps the aspect and shows the picture", async () => {
        const url = bob.client.mxcUrlToHttp(mxc, 32, 32, "scale", false, true, true);
        assert.match(url, /\/_matrix\/client\/v1\/media\/thumbnail\/.*width=32&height=32&method=scale/);
        const got = await fetchMedia(url, bob.client.getAccessToken());
        assert.equal(got.status, 200, `thumbnail answered ${got.status}: ${got.bytes.toString("utf8", 0, 200)}`);
        // The spec leaves the thumbnail's type to the server; ours (as Synapse) keeps PNG for PNG, which lib/png.js reads.
        assert.equal(got.type.split(";")[0].trim(), "image/png");
        const thumb = decodePng(got.bytes);
        assert.ok(thumb.width <= 32 && thumb.height <= 32, `thumbnail is ${thumb.width}x${thumb.height}, larger than the 32x32 asked`);
        // Scale fits the box: the wider side fills it and the 4:3 aspect is kept (32x24).
        assert.equal(thumb.width, 32);
        assert.ok(Math.abs(thumb.height - 24) <= 1, `a 4:3 image scaled to 32 wide is 24 high, not ${thumb.height}`);
        const [w, h] = [thumb.width, thumb.height];
        assertColour(thumb, Math.floor(w / 4), Math.floor(h / 4), RED, "top left");
        assertColour(thumb, Math.floor((3 * w) / 4), Math.floor(h / 4), GREEN, "top right");
        assertColour(thumb, Math.floor(w / 4), Math.floor((3 * h) / 4), BLUE, "bottom left");
        assertColour(thumb, Math.floor((3 * w) / 4), Math.floor((3 * h) / 4), WHITE, "bottom right");
    });

    test("a cropped thumbnail has exactly the size asked and the centre of the picture", async () => {
        const url = bob.client.mxcUrlToHttp(mxc, 16, 16, "crop", false, true, true);
        const got = await fetchMedia(url, bob.client.getAccessToken());
        assert.equal(got.status, 200, `thumbnail answered ${got.status}: ${got.bytes.toString("utf8", 0, 200)}`);
        const thumb = decodePng(got.bytes);
        // No larger than asked, and (the spec: not smaller unless the original is) not smaller either.
        assert.deepEqual([thumb.width, thumb.height], [16, 16]);
        // The centred 48x48 square of the 64x48 picture: the quadrants meet in the middle.
        assertColour(thumb, 3, 3, RED, "top left");
        assertColour(thumb, 12, 3, GREEN, "top right");
        assertColour(thumb, 3, 12, BLUE, "bottom left");
        assertColour(thumb, 12, 12, WHITE, "bottom right");
    });

    test("a thumbnail larger than the image is the original, not an enlargement", async () => {
        const url = bob.client.mxcUrlToHttp(mxc, 320, 240, "scale", false, true, true);
        const got = await fetchMedia(url, bob.client.getAccessToken());
        assert.equal(got.status, 200);
        const thumb = decodePng(got.bytes);
        assert.deepEqual([thumb.width, thumb.height], [64, 48]);
    });

    test("the authenticated endpoints refuse a request without a token with M_MISSING_TOKEN", async () => {
        for (const url of [
            bob.client.mxcUrlToHttp(mxc, undefined, undefined, undefined, false, true, true),
            bob.client.mxcUrlToHttp(mxc, 32, 32, "scale", false, true, true),
        ]) {
            const got = await fetchMedia(url);
            assert.equal(got.status, 401, `${url} without a token answered ${got.status}`);
            assert.equal(got.json?.errcode, "M_MISSING_TOKEN", `${url}: ${got.bytes.toString("utf8", 0, 200)}`);
            assert.ok(!got.bytes.includes(png.subarray(0, 8)), "no image bytes in the refusal");
        }
        const wrong = await fetchMedia(bob.client.mxcUrlToHttp(mxc, undefined, undefined, undefined, false, true, true), "not-a-token");
        assert.equal(wrong.status, 401);
        assert.equal(wrong.json?.errcode, "M_UNKNOWN_TOKEN");
    });

    test("/_matrix/client/v1/media/config reports the upload limit", async () => {
        const config = await bob.client.getMediaConfig(true);
        const limit = config["m.upload.size"];
        assert.ok(Number.isSafeInteger(limit) && limit >= png.length, `m.upload.size is ${JSON.stringify(limit)}`);
    });
});

/**
 * Resolves when `check()` is true, re-evaluated after each sync and each change of a room's counts or timeline;
 * rejects after `timeoutMs` with `what` and the last state `describe()` gives.
 */
function waitUntil(client, check, what, describe, timeoutMs = 20000) {
    return new Promise((resolve, reject) => {
        const events = [ClientEvent.Sync, RoomEvent.UnreadNotifications, RoomEvent.Timeline, RoomEvent.Receipt];
        let timer;
        const done = (error) => {
            clearTimeout(timer);
            for (const e of events) client.off(e, evaluate);
            error ? reject(error) : resolve();
        };
        function evaluate() {
            try {
                if (check()) done();
            } catch (e) {
                done(e);
            }
        }
        timer = setTimeout(() => done(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; now ${describe()}`)), timeoutMs);
        for (const e of events) client.on(e, evaluate);
        evaluate();
    });
}

/** Resolves after the client has finished its next sync (so that everything of one response is processed). */
function nextSync(client) {
    return new Promise((resolve) => {
        const onSync = (state) => {
            if (state === SyncState.Syncing || state === SyncState.Prepared) {
                client.off(ClientEvent.Sync, onSync);
                resolve();
            }
        };
        client.on(ClientEvent.Sync, onSync);
    });
}

describe("unread notification counts in a room of three", () => {
    let alice;
    let bob;
    let carol;
    let roomId;
    let room;

    const counts = () => ({
        total: room?.getUnreadNotificationCount(NotificationCountType.Total),
        highlight: room?.getUnreadNotificationCount(NotificationCountType.Highlight),
    });
    const show = () => JSON.stringify(counts());

    /** An m.text message as Element sends it: always with m.mentions, listing the users it mentions. */
    const message = (body, userIds = []) => ({ msgtype: "m.text", body, "m.mentions": userIds.length ? { user_ids: userIds } : {} });

    before(async () => {
        alice = await registerClient();
        bob = await registerClient();
        carol = await registerClient();
        // Three members, so that .m.rule.room_one_to_one does not apply and .m.rule.message decides (notify).
        ({ room_id: roomId } = await alice.client.createRoom({ name: "unread counts", preset: "private_chat" }));
        await alice.client.invite(roomId, bob.userId);
        await alice.client.invite(roomId, carol.userId);
        await bob.client.joinRoom(roomId);
        await carol.client.joinRoom(roomId);

        // Element's start options (threads on: receipts carry thread_id and the filter asks for per-thread counts).
        const prepared = new Promise((resolve, reject) => {
            bob.client.on(ClientEvent.Sync, (state, _prev, data) => {
                if (state === SyncState.Prepared) resolve();
                if (state === SyncState.Error) reject(data?.error ?? new Error("bob's first sync failed"));
            });
        });
        await bob.client.startClient({
            initialSyncLimit: 20,
            lazyLoadMembers: true,
            threadSupport: true,
            pendingEventOrdering: PendingEventOrdering.Detached,
        });
        await prepared;
        room = bob.client.getRoom(roomId);
        assert.ok(room, "bob's first sync has the room");
    });

    after(() => {
        alice?.client.stopClient();
        bob?.client.stopClient();
        carol?.client.stopClient();
    });

    test("nothing is unread for bob right after he joined", () => {
        assert.deepEqual(counts(), { total: 0, highlight: 0 });
    });

    test("messages raise bob's count and the one mentioning him highlights", async () => {
        await alice.client.sendMessage(roomId, message("good morning"));
        await carol.client.sendMessage(roomId, message("morning all"));
        // Mentioned only through m.mentions: the body does not carry bob's name, so only .m.rule.is_user_mention can match.
        const { event_id: mention } = await alice.client.sendMessage(roomId, message("could you have a look?", [bob.userId]));

        await waitUntil(bob.client, () => room.findEventById(mention) !== undefined, "the mention in bob's timeline", show);
        // The counts of a sync are stored before its events are added; let any sync in flight finish all the same.
        await waitUntil(bob.client, () => counts().total === 3 && counts().highlight === 1, "3 unread with 1 highlight", show);
        assert.deepEqual(counts(), { total: 3, highlight: 1 });
    });

    test("bob's read receipt on the latest event clears the counts in his next syncs", async () => {
        const latest = room.getLiveTimeline().getEvents().at(-1);
        assert.equal(latest.getContent().body, "could you have a look?", "the latest event is the mention");
        assert.notEqual(latest.getSender(), bob.userId, "not bob's own event (the SDK would zero the counts itself)");
        assert.deepEqual(counts(), { total: 3, highlight: 1 }, "still unread before the receipt");

        await bob.client.sendReadReceipt(latest);
        await waitUntil(bob.client, () => counts().total === 0 && counts().highlight === 0, "the counts to clear", show);
        // They stay cleared in the syncs that follow (alice's typing notice wakes bob's long poll without counting).
        const woken = nextSync(bob.client);
        await alice.client.sendTyping(roomId, true, 5000);
        await woken;
        assert.deepEqual(counts(), { total: 0, highlight: 0 });
    });

    test("counting starts again after the receipt", async () => {
        const { event_id: later } = await carol.client.sendMessage(roomId, message("one more thing"));
        await waitUntil(bob.client, () => room.findEventById(later) !== undefined, "carol's message in bob's timeline", show);
        await waitUntil(bob.client, () => counts().total === 1, "1 unread", show);
        assert.deepEqual(counts(), { total: 1, highlight: 0 });
    });
});

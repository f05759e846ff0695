#!/usr/bin/env python3
"""Independent reference values for Homeserver.Crypto.Tests.

Written from the spec text only (https://spec.matrix.org/v1.19/), with Python's json, hashlib and base64 and
the `cryptography` package's Ed25519. It shares no code with the C# implementation; the tests quote its output
and say so. Run: python3 generate_vectors.py
"""
import base64
import copy
import hashlib
import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives import serialization


def canonical(value):
    # The appendix's reference encoder.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")


def b64(data):
    return base64.b64encode(data).decode("ascii").rstrip("=")


def b64url(data):
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def unb64(text):
    return base64.b64decode(text + "=" * (-len(text) % 4))


SEED = unb64("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1")
KEY = Ed25519PrivateKey.from_private_bytes(SEED)
PUBLIC = KEY.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def sign_json(obj, entity, key_id):
    obj = copy.deepcopy(obj)
    signatures = obj.pop("signatures", {})
    unsigned = obj.pop("unsigned", None)
    signatures.setdefault(entity, {})[key_id] = b64(KEY.sign(canonical(obj)))
    obj["signatures"] = signatures
    if unsigned is not None:
        obj["unsigned"] = unsigned
    return obj


# Redaction, from the room version pages. rules is one of 1, 6, 8, 9, 11.
def redact(event, rules):
    top = ["event_id", "type", "room_id", "sender", "state_key", "content", "hashes", "signatures", "depth",
           "prev_events", "auth_events", "origin_server_ts"]
    if rules < 11:
        top += ["prev_state", "origin", "membership"]
    kept = {k: copy.deepcopy(v) for k, v in event.items() if k in top}
    t = event.get("type")
    content = event.get("content", {})
    allowed = []
    if t == "m.room.member":
        allowed = ["membership"]
        if rules >= 9:
            allowed.append("join_authorised_via_users_server")
    elif t == "m.room.create":
        allowed = None if rules >= 11 else ["creator"]
    elif t == "m.room.join_rules":
        allowed = ["join_rule"] + (["allow"] if rules >= 8 else [])
    elif t == "m.room.power_levels":
        allowed = ["ban", "events", "events_default", "kick", "redact", "state_default", "users", "users_default"]
        if rules >= 11:
            allowed.append("invite")
    elif t == "m.room.aliases" and rules < 6:
        allowed = ["aliases"]
    elif t == "m.room.history_visibility":
        allowed = ["history_visibility"]
    elif t == "m.room.redaction" and rules >= 11:
        allowed = ["redacts"]
    if "content" in event:
        if allowed is None:
            kept["content"] = copy.deepcopy(content)
        else:
            new = {k: copy.deepcopy(v) for k, v in content.items() if k in allowed}
            if rules >= 11 and t == "m.room.member" and isinstance(content.get("third_party_invite"), dict):
                tpi = content["third_party_invite"]
                new["third_party_invite"] = {"signed": copy.deepcopy(tpi["signed"])} if "signed" in tpi else {}
            kept["content"] = new
    return kept


def content_hash(event):
    e = {k: v for k, v in event.items() if k not in ("unsigned", "signatures", "hashes")}
    return hashlib.sha256(canonical(e)).digest()


def reference_hash(event, rules):
    r = redact(event, rules)
    r.pop("signatures", None)
    r.pop("unsigned", None)
    return hashlib.sha256(canonical(r)).digest()


def hash_and_sign(event, rules, entity, key_id):
    event = copy.deepcopy(event)
    event["hashes"] = {"sha256": b64(content_hash(event))}
    signed = sign_json(redact(event, rules), entity, key_id)
    event["signatures"] = signed["signatures"]
    return event


def show(title, value):
    print(f"{title}: {value}")


show("public key of the spec seed", b64(PUBLIC))
show("json {}", json.dumps(sign_json({}, "domain", "ed25519:1")))
show("json one/two", json.dumps(sign_json({"one": 1, "two": "Two"}, "domain", "ed25519:1")))

MINIMAL = {"room_id": "!x:domain", "sender": "@a:domain", "origin": "domain", "origin_server_ts": 1000000,
           "signatures": {}, "hashes": {}, "type": "X", "content": {}, "prev_events": [], "auth_events": [],
           "depth": 3, "unsigned": {"age_ts": 1000000}}
REDACTABLE = {"content": {"body": "Here is the message content"}, "event_id": "$0:domain", "origin": "domain",
              "origin_server_ts": 1000000, "type": "m.room.message", "room_id": "!r:domain", "sender": "@u:domain",
              "signatures": {}, "unsigned": {"age_ts": 1000000}}
show("event minimal", json.dumps(hash_and_sign(MINIMAL, 1, "domain", "ed25519:1"), sort_keys=True))
show("event redactable", json.dumps(hash_and_sign(REDACTABLE, 1, "domain", "ed25519:1"), sort_keys=True))

# Events for reference hashes and event IDs (EventHashingTests).
MESSAGE = {"auth_events": ["$create", "$power"], "content": {"body": "héllo 😀", "msgtype": "m.text"},
           "depth": 12, "hashes": {"sha256": "ignored"}, "origin": "example.org", "origin_server_ts": 1700000000000,
           "prev_events": ["$prev"], "room_id": "!room:example.org", "sender": "@alice:example.org",
           "signatures": {"example.org": {"ed25519:1": "ignored"}}, "type": "m.room.message",
           "unsigned": {"age": 5}}
MESSAGE["hashes"] = {"sha256": b64(content_hash(MESSAGE))}
show("message content hash", b64(content_hash(MESSAGE)))
for rules, label in ((1, "v3"), (1, "v4"), (11, "v11")):
    h = reference_hash(MESSAGE, rules)
    show(f"message reference hash ({label} rules)", b64(h))
    show(f"message event id {label}", "$" + (b64(h) if label == "v3" else b64url(h)))

CREATE12 = {"auth_events": [], "content": {"room_version": "12", "additional_creators": ["@bob:example.org"]},
            "depth": 1, "origin_server_ts": 1750000000000, "prev_events": [], "sender": "@alice:example.org",
            "state_key": "", "type": "m.room.create", "unsigned": {}}
CREATE12["hashes"] = {"sha256": b64(content_hash(CREATE12))}
h = reference_hash(CREATE12, 11)
show("v12 create content hash", CREATE12["hashes"]["sha256"])
show("v12 create event id", "$" + b64url(h))
show("v12 room id", "!" + b64url(h))
show("v12 create signed", json.dumps(hash_and_sign(CREATE12, 11, "example.org", "ed25519:1"), sort_keys=True))

# Legacy (room versions 1-5) numbers: what Python writes.
LEGACY = {"content": {"f": 1.5, "i": 12345678901234567890, "z": -0.0, "e": 1e100, "s": 1e-7, "w": 1e16},
          "event_id": "$legacy:example.org", "type": "m.room.message", "room_id": "!r:example.org",
          "sender": "@a:example.org", "origin_server_ts": 1, "depth": 1, "prev_events": [], "auth_events": []}
show("legacy canonical", canonical(LEGACY).decode())
show("legacy content hash", b64(content_hash(LEGACY)))

# X-Matrix request (XMatrixAuthorizationTests).
REQUEST = {"method": "PUT", "uri": "/_matrix/federation/v1/send/1234?x=y", "origin": "origin.hs.example.com",
           "destination": "destination.hs.example.com", "content": {"pdus": [], "edus": [{"edu_type": "m.typing"}]}}
show("x-matrix sig", sign_json(REQUEST, "origin.hs.example.com", "ed25519:1")["signatures"])

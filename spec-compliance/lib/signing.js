// Ed25519 signature checks for signed JSON (https://spec.matrix.org/v1.16/appendices/#signing-json) with Node's
// own crypto (OpenSSL), independent of the server's implementation.
import { createPublicKey, verify } from "node:crypto";
import { canonicalJsonBytes } from "./canonical-json.js";

// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): SEQUENCE { SEQUENCE { OID 1.3.101.112 }, BIT STRING }.
const ED25519_SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

/** Decodes unpadded (or padded) standard base64, refusing anything else. */
export function decodeBase64(text) {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) {
        throw new Error(`not standard base64: ${text}`);
    }
    return Buffer.from(text, "base64");
}

/** An Ed25519 public key object from the 32 raw bytes a Matrix key document carries in unpadded base64. */
export function ed25519PublicKey(base64Key) {
    const raw = decodeBase64(base64Key);
    if (raw.length !== 32) {
        throw new Error(`an Ed25519 public key has 32 bytes, this one ${raw.length}`);
    }
    return createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, raw]), format: "der", type: "spki" });
}

/** The bytes that are signed: canonical JSON of the object without `signatures` and `unsigned`. */
export function signedBytes(object) {
    const { signatures: _signatures, unsigned: _unsigned, ...rest } = object;
    return canonicalJsonBytes(rest);
}

/** Whether `object.signatures[entity][keyId]` is a valid Ed25519 signature by `publicKey` (a KeyObject). */
export function verifyJsonSignature(object, entity, keyId, publicKey) {
    const signature = object.signatures?.[entity]?.[keyId];
    if (typeof signature !== "string") {
        return false;
    }
    const sigBytes = decodeBase64(signature);
    if (sigBytes.length !== 64) {
        return false;
    }
    return verify(null, signedBytes(object), publicKey, sigBytes);
}

// Matrix canonical JSON (https://spec.matrix.org/v1.16/appendices/#canonical-json), written here from the spec
// so that the scenarios check the server's signatures with an implementation independent of the server's:
// object keys sorted by Unicode code point, no insignificant whitespace, integers only, UTF-8.

function compareCodePoints(a, b) {
    // UTF-8 byte order is code point order (JavaScript's default sort compares UTF-16 code units, which differs
    // for characters above U+FFFF against U+E000..U+FFFF).
    return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

function encode(value) {
    if (value === null || typeof value === "boolean" || typeof value === "string") {
        return JSON.stringify(value);
    }
    if (typeof value === "number") {
        if (!Number.isSafeInteger(value)) {
            throw new TypeError(`canonical JSON allows only integers in [-(2^53)+1, (2^53)-1], not ${value}`);
        }
        return String(value);
    }
    if (Array.isArray(value)) {
        return "[" + value.map(encode).join(",") + "]";
    }
    if (typeof value === "object") {
        const keys = Object.keys(value).sort(compareCodePoints);
        return "{" + keys.map((k) => JSON.stringify(k) + ":" + encode(value[k])).join(",") + "}";
    }
    throw new TypeError(`cannot encode ${typeof value} as canonical JSON`);
}

/** The canonical JSON text of a value. */
export function canonicalJson(value) {
    return encode(value);
}

/** The canonical JSON of a value as UTF-8 bytes. */
export function canonicalJsonBytes(value) {
    return Buffer.from(encode(value), "utf8");
}

// PNG written and read from the specification (https://www.w3.org/TR/png-3/) with node:zlib only, so that media
// scenarios can upload a real image and check that a thumbnail is a real image of the right picture, independent
// of the server's image library. Reads what encoders commonly write: bit depth 8, no interlacing, colour types
// 0 (grey), 2 (RGB), 3 (palette), 4 (grey + alpha) and 6 (RGBA).
import { deflateSync, inflateSync } from "node:zlib";

export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

const CRC_TABLE = (() => {
    const table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
        let c = n;
        for (let k = 0; k < 8; k++) {
            c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
        }
        table[n] = c >>> 0;
    }
    return table;
})();

/** CRC-32 (ISO 3309, as PNG chunks use it) of some bytes. */
export function crc32(bytes) {
    let c = 0xffffffff;
    for (const b of bytes) {
        c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
    }
    return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const typeAndData = Buffer.concat([Buffer.from(type, "latin1"), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(typeAndData));
    return Buffer.concat([length, typeAndData, crc]);
}

/** An 8-bit RGB PNG of `width` x `height` whose pixel (x, y) is `colourAt(x, y)` = [r, g, b]. */
export function encodeRgbPng(width, height, colourAt) {
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(width, 0);
    ihdr.writeUInt32BE(height, 4);
    ihdr[8] = 8; // bit depth
    ihdr[9] = 2; // colour type: truecolour
    ihdr[10] = 0; // deflate
    ihdr[11] = 0; // adaptive filtering
    ihdr[12] = 0; // no interlace
    const stride = 1 + width * 3;
    const raw = Buffer.alloc(stride * height);
    for (let y = 0; y < height; y++) {
        raw[y * stride] = 0; // filter: none
        for (let x = 0; x < width; x++) {
            const [r, g, b] = colourAt(x, y);
            raw.set([r, g, b], y * stride + 1 + x * 3);
        }
    }
    return Buffer.concat([PNG_SIGNATURE, chunk("IHDR", ihdr), chunk("IDAT", deflateSync(raw)), chunk("IEND", Buffer.alloc(0))]);
}

function paeth(a, b, c) {
    const p = a + b - c;
    const pa = Math.abs(p - a);
    const pb = Math.abs(p - b);
    const pc = Math.abs(p - c);
    return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/**
 * Decodes a PNG, checking its signature, every chunk's CRC, the header and the amount of image data. Throws on
 * anything malformed. Returns { width, height, colourType, pixel(x, y) -> [r, g, b, a] }.
 */
export function decodePng(bytes) {
    const buf = Buffer.from(bytes);
    if (buf.length < 8 || !buf.subarray(0, 8).equals(PNG_SIGNATURE)) {
        throw new Error("not a PNG: wrong signature");
    }
    let offset = 8;
    let header;
    let palette;
    const idat = [];
    let ended = false;
    while (offset < buf.length) {
        if (offset + 12 > buf.length) {
            throw new Error(`truncated chunk at byte ${offset}`);
        }
        const length = buf.readUInt32BE(offset);
        const type = buf.toString("latin1", offset + 4, offset + 8);
        const end = offset + 8 + length;
        if (end + 4 > buf.length) {
            throw new Error(`chunk ${type} runs past the end of the file`);
        }
        const data = buf.subarray(offset + 8, end);
        if (crc32(buf.subarray(offset + 4, end)) !== buf.readUInt32BE(end)) {
            throw new Error(`chunk ${type} has a wrong CRC`);
        }
        if (header === undefined && type !== "IHDR") {
            throw new Error(`the first chunk is ${type}, not IHDR`);
        }
        if (type === "IHDR") {
            header = {
                width: data.readUInt32BE(0),
                height: data.readUInt32BE(4),
                bitDepth: data[8],
                colourType: data[9],
                interlace: data[12],
            };
        } else if (type === "PLTE") {
            palette = data;
        } else if (type === "IDAT") {
            idat.push(data);
        } else if (type === "IEND") {
            ended = true;
            break;
        }
        offset = end + 4;
    }
    if (!ended) {
        throw new Error("no IEND chunk");
    }
    const { width, height, bitDepth, colourType, interlace } = header;
    if (width === 0 || height === 0) {
        throw new Error(`empty image ${width}x${height}`);
    }
    if (bitDepth !== 8 || interlace !== 0) {
        throw new Error(`this reader handles bit depth 8 without interlace, not depth ${bitDepth} interlace ${interlace}`);
    }
    const channels = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[colourType];
    if (channels === undefined) {
        throw new Error(`invalid colour type ${colourType}`);
    }
    if (colourType === 3 && palette === undefined) {
        throw new Error("a palette image without PLTE");
    }

    const raw = inflateSync(Buffer.concat(idat));
    const stride = width * channels;
    if (raw.length !== height * (stride + 1)) {
        throw new Error(`image data has ${raw.length} bytes, ${height * (stride + 1)} expected for ${width}x${height}`);
    }
    const pixels = Buffer.alloc(height * stride);
    for (let y = 0; y < height; y++) {
        const filter = raw[y * (stride + 1)];
        const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
        for (let i = 0; i < stride; i++) {
            const a = i >= channels ? pixels[y * stride + i - channels] : 0;
            const b = y > 0 ? pixels[(y - 1) * stride + i] : 0;
            const c = i >= channels && y > 0 ? pixels[(y - 1) * stride + i - channels] : 0;
            const predictor = [() => 0, () => a, () => b, () => (a + b) >> 1, () => paeth(a, b, c)][filter];
            if (predictor === undefined) {
                throw new Error(`invalid filter type ${filter} on line ${y}`);
            }
            pixels[y * stride + i] = (line[i] + predictor()) & 0xff;
        }
    }

    function pixel(x, y) {
        const p = pixels.subarray(y * stride + x * channels, y * stride + (x + 1) * channels);
        switch (colourType) {
            case 0: return [p[0], p[0], p[0], 255];
            case 2: return [p[0], p[1], p[2], 255];
            case 3: return [palette[p[0] * 3], palette[p[0] * 3 + 1], palette[p[0] * 3 + 2], 255];
            case 4: return [p[0], p[0], p[0], p[1]];
            default: return [p[0], p[1], p[2], p[3]];
        }
    }
    return { width, height, colourType, pixel };
}

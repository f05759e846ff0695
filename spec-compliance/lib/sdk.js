// The one way scenarios load matrix-js-sdk: polyfills first, then the SDK, with its logging turned down.
// SDK_LOG=debug (or info, warn) shows the SDK's own log lines, e.g. every HTTP request; the default is error.
import "./polyfills.js";
import * as matrix from "matrix-js-sdk";
import { logger as rootLogger } from "matrix-js-sdk/lib/logger.js";

const LEVELS = ["trace", "debug", "info", "warn", "error"];
const threshold = Math.max(0, LEVELS.indexOf(process.env.SDK_LOG ?? "error"));

// The SDK's module-level logger (used before a client exists, and by code that has no client at hand). Its
// children (e.g. MatrixRTCSession's, made when a synced room is seen) start at debug level whatever the parent's,
// so each one is turned down as it is made.
function quieten(logger) {
    logger.setLevel(LEVELS[threshold], false);
    const getChild = logger.getChild;
    if (!getChild.quietened) {
        const wrapped = (prefix) => quieten(getChild.call(logger, prefix));
        wrapped.quietened = true;
        logger.getChild = wrapped;
    }
    return logger;
}
quieten(rootLogger);

/** A Logger (matrix-js-sdk's interface) that prints what is at or above SDK_LOG, prefixed with its name. */
function makeLogger(prefix) {
    const log = { getChild: (name) => makeLogger(prefix + name) };
    LEVELS.forEach((level, rank) => {
        log[level] = rank < threshold ? () => {} : (...args) => console.error(`[sdk ${level}] ${prefix}`, ...args);
    });
    return log;
}

export const clientLogger = makeLogger("");

/** matrix-js-sdk's createClient, with our logger unless the options bring one. */
export function createClient(opts) {
    return matrix.createClient({ logger: clientLogger, ...opts });
}

const sdk = { ...matrix, createClient };
export default sdk;
export * from "matrix-js-sdk";

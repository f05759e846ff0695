// Language features that matrix-js-sdk 43 uses but Node.js 20 lacks (the SDK declares node >= 22).
// Import this module before the SDK: lib/sdk.js does, and run.sh also preloads it with --import.
// Only what is missing is added, so on Node.js 22+ this file does nothing.

if (typeof Promise.withResolvers !== "function") {
    // ES2024 Promise.withResolvers (https://tc39.es/ecma262/#sec-promise.withResolvers).
    Object.defineProperty(Promise, "withResolvers", {
        configurable: true,
        writable: true,
        value: function withResolvers() {
            let resolve;
            let reject;
            const promise = new this((res, rej) => {
                resolve = res;
                reject = rej;
            });
            return { promise, resolve, reject };
        },
    });
}

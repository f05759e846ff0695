// Assertions about Matrix errors as matrix-js-sdk reports them (MatrixError: httpStatus, errcode, data).
import assert from "node:assert/strict";

/** Awaits `promise`, which must reject with a Matrix error of this errcode (and HTTP status, if given). */
export async function rejectsWithMatrixError(promise, errcode, httpStatus) {
    let error;
    try {
        await promise;
    } catch (e) {
        error = e;
    }
    assert.ok(error, `expected the request to fail with ${errcode}, but it succeeded`);
    assert.equal(error.errcode, errcode, `expected errcode ${errcode}, got ${error.errcode} (HTTP ${error.httpStatus}): ${error.message}`);
    if (httpStatus !== undefined) {
        assert.equal(error.httpStatus, httpStatus, `expected HTTP ${httpStatus} with ${errcode}, got ${error.httpStatus}`);
    }
    return error;
}

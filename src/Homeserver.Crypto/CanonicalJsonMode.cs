namespace Homeserver.Crypto;

/// <summary>
/// How numbers are treated when encoding canonical JSON. Everything else (key order, whitespace, string escapes,
/// duplicate keys) is the same in every mode.
/// Spec: https://spec.matrix.org/v1.19/appendices/#canonical-json.
/// </summary>
public enum CanonicalJsonMode
{
    /// <summary>
    /// Room versions 6 and later, and everything the client-server and federation APIs accept or send
    /// (https://spec.matrix.org/v1.19/rooms/v6/#canonical-json): a number must be written as an integer literal
    /// (no fraction, no exponent) in [-(2^53)+1, (2^53)-1]. <c>-0</c> is accepted and written as <c>0</c>.
    /// <c>1.0</c>, <c>1e3</c> and out-of-range integers throw <see cref="CanonicalJsonException"/>.
    /// This is what Synapse enforces: Python parses <c>1.0</c> and <c>1e3</c> as floats and rejects them.
    /// </summary>
    Strict = 0,

    /// <summary>
    /// The appendix read by value: any number whose value is an integer in range is accepted whatever its notation
    /// and written as a plain integer (<c>1e10</c> becomes <c>10000000000</c>, <c>1.0</c> becomes <c>1</c>,
    /// <c>-0</c> becomes <c>0</c>); other numbers throw. This is the reading the appendix's example
    /// <c>{"a": -0, "b": 1e10}</c> needs. Nothing in the server uses it for events: accepting what Synapse
    /// rejects would let us accept events other servers refuse.
    /// </summary>
    IntegralValues = 1,

    /// <summary>
    /// Room versions 1 to 5 (https://spec.matrix.org/v1.19/rooms/v1/#canonical-json: servers must not enforce the
    /// restrictions). Byte-for-byte what Synapse computes with Python's <c>json</c> module, so that hashes and
    /// signatures of old events match: an integer literal of any size is kept exactly (<c>-0</c> becomes <c>0</c>);
    /// any other number is parsed as an IEEE double and written like Python's <c>repr(float)</c>
    /// (<c>1.0</c>, <c>10000000000.0</c>, <c>1e+16</c>, <c>1e-05</c>, <c>-0.0</c>). Infinities
    /// (<c>1e400</c>) throw, as Python's encoder does with <c>allow_nan=False</c>.
    /// </summary>
    Legacy = 2,
}

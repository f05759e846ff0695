using Homeserver.Core;

namespace Homeserver.E2ee;

/// <summary>Error codes of the E2EE module that Core does not list (on the wire and frozen).</summary>
public static class E2eeErrorCodes
{
    /// <summary>Key backup: the version is not the current one (client-server API, PUT /room_keys/keys).</summary>
    public const string WrongRoomKeysVersion = "M_WRONG_ROOM_KEYS_VERSION";

    public static MatrixException InvalidSignature(string message) => new(MatrixErrorCode.InvalidSignature, 400, message);
}

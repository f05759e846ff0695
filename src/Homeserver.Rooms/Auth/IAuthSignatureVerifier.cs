using System.Text.Json;
using Homeserver.Core;

namespace Homeserver.Rooms.Auth;

/// <summary>
/// The two signature questions inside the authorisation rules. The room core has no cryptography, so the caller
/// supplies the answers (the federation layer backs this with Ed25519 and the key store).
/// </summary>
public interface IAuthSignatureVerifier
{
    /// <summary>
    /// Member rule 2 (v8+): is <paramref name="pdu"/> validly signed by <paramref name="serverName"/>, the server of
    /// <c>join_authorised_via_users_server</c>?
    /// </summary>
    bool IsSignedByServer(Pdu pdu, string serverName);

    /// <summary>
    /// Invite rule "If any signature in <c>signed</c> matches any public key in the <c>m.room.third_party_invite</c>
    /// event, allow": does any signature of <paramref name="signed"/> verify with one of <paramref name="publicKeys"/>
    /// (unpadded base64 Ed25519 keys)?
    /// </summary>
    bool VerifyThirdPartyInviteSigned(JsonElement signed, IReadOnlyList<string> publicKeys);
}

/// <summary>
/// The default verifier for callers that checked every event signature before authorisation (as "Checks performed on
/// receipt of a PDU" requires, step 2): an event counts as signed by a server when its <c>signatures</c> has an entry for
/// it. An event with an empty <c>signatures</c> was built here and is signed as it leaves (<c>EventFactory.BuildLocal</c>;
/// an event from another server is stored only with its sender's server's signature): it counts as signed by its
/// sender's server, which is this one. It cannot verify third-party invite signatures and rejects them.
/// </summary>
public sealed class SignaturesCheckedUpstreamVerifier : IAuthSignatureVerifier
{
    public static SignaturesCheckedUpstreamVerifier Instance { get; } = new();

    public bool IsSignedByServer(Pdu pdu, string serverName)
    {
        ArgumentNullException.ThrowIfNull(pdu);
        if (!Json.TryGetProperty(pdu.Json, "signatures", out var sigs) || sigs.ValueKind != JsonValueKind.Object)
        {
            return false;
        }

        if (!sigs.EnumerateObject().Any())
        {
            return MatrixId.ServerOf(pdu.Sender) == serverName;
        }

        return Json.TryGetProperty(sigs, serverName, out var block)
            && block.ValueKind == JsonValueKind.Object
            && block.EnumerateObject().Any();
    }

    public bool VerifyThirdPartyInviteSigned(JsonElement signed, IReadOnlyList<string> publicKeys) => false;
}

using Dapper;
using Homeserver.E2ee;
using Npgsql;

namespace Homeserver.Storage.E2ee;

/// <summary>Tables <c>e2e_cross_signing_keys</c> and <c>e2e_cross_signing_signatures</c>.</summary>
internal sealed class CrossSigningRepository(NpgsqlDataSource db) : ICrossSigningStore
{
    private const string SelectKeys = """
        SELECT user_id AS UserId, key_type AS KeyType, public_key AS PublicKey, key_json AS KeyJson
        FROM e2e_cross_signing_keys WHERE user_id = ANY(@UserIds)
        ORDER BY user_id, key_type
        """;

    private const string UpsertKey = """
        INSERT INTO e2e_cross_signing_keys (user_id, key_type, public_key, key_json, stream_id)
        VALUES (@UserId, @KeyType, @PublicKey, @KeyJson, @StreamId)
        ON CONFLICT (user_id, key_type) DO UPDATE SET
            public_key = EXCLUDED.public_key, key_json = EXCLUDED.key_json, stream_id = EXCLUDED.stream_id
        """;

    private const string DeleteBySigner =
        "DELETE FROM e2e_cross_signing_signatures WHERE signer_user_id = @UserId AND signing_key_id = ANY(@KeyIds)";

    private const string DeleteByTarget =
        "DELETE FROM e2e_cross_signing_signatures WHERE target_user_id = @UserId AND target_key_id = ANY(@KeyIds)";

    // Visibility: the owner's own signatures (self-signing key on devices, devices on the master key) and the viewer's.
    private const string SelectSignatures = """
        SELECT signer_user_id AS SignerUserId, signing_key_id AS SigningKeyId, target_user_id AS TargetUserId,
               target_key_id AS TargetKeyId, signature AS Signature
        FROM e2e_cross_signing_signatures
        WHERE target_user_id = ANY(@TargetUserIds) AND (signer_user_id = target_user_id OR signer_user_id = @Viewer)
        """;

    private const string UpsertSignature = """
        INSERT INTO e2e_cross_signing_signatures (signer_user_id, signing_key_id, target_user_id, target_key_id, signature)
        VALUES (@SignerUserId, @SigningKeyId, @TargetUserId, @TargetKeyId, @Signature)
        ON CONFLICT (target_user_id, target_key_id, signer_user_id, signing_key_id) DO UPDATE SET signature = EXCLUDED.signature
        """;

    public async Task<IReadOnlyList<StoredCrossSigningKey>> GetKeysAsync(IReadOnlyCollection<string> userIds, CancellationToken ct)
    {
        if (userIds.Count == 0)
        {
            return [];
        }

        await using var conn = await db.OpenConnectionAsync(ct);
        return (await conn.QueryAsync<StoredCrossSigningKey>(new CommandDefinition(SelectKeys, new { UserIds = userIds.ToArray() }, cancellationToken: ct))).ToList();
    }

    public async Task SaveKeysAsync(
        string userId,
        IReadOnlyList<StoredCrossSigningKey> keys,
        IReadOnlyList<string> droppedSigningKeyIds,
        IReadOnlyList<string> droppedTargetKeyIds,
        long streamId,
        IReadOnlyList<DeviceListChange> changes,
        long nowTs,
        CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        foreach (var key in keys)
        {
            await conn.ExecuteAsync(new CommandDefinition(UpsertKey, new { key.UserId, key.KeyType, key.PublicKey, key.KeyJson, StreamId = streamId }, tx, cancellationToken: ct));
        }

        if (droppedSigningKeyIds.Count > 0)
        {
            await conn.ExecuteAsync(new CommandDefinition(DeleteBySigner, new { UserId = userId, KeyIds = droppedSigningKeyIds.ToArray() }, tx, cancellationToken: ct));
        }

        if (droppedTargetKeyIds.Count > 0)
        {
            await conn.ExecuteAsync(new CommandDefinition(DeleteByTarget, new { UserId = userId, KeyIds = droppedTargetKeyIds.ToArray() }, tx, cancellationToken: ct));
        }

        await DeviceListRepository.InsertChangesAsync(conn, tx, streamId, changes, nowTs, ct);
        await tx.CommitAsync(ct);
    }

    public async Task<IReadOnlyList<StoredSignature>> GetSignaturesAsync(IReadOnlyCollection<string> targetUserIds, string viewerUserId, CancellationToken ct)
    {
        if (targetUserIds.Count == 0)
        {
            return [];
        }

        await using var conn = await db.OpenConnectionAsync(ct);
        return (await conn.QueryAsync<StoredSignature>(new CommandDefinition(SelectSignatures, new { TargetUserIds = targetUserIds.ToArray(), Viewer = viewerUserId }, cancellationToken: ct))).ToList();
    }

    public async Task SaveSignaturesAsync(IReadOnlyList<StoredSignature> signatures, long streamId, IReadOnlyList<DeviceListChange> changes, long nowTs, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        foreach (var s in signatures)
        {
            await conn.ExecuteAsync(new CommandDefinition(UpsertSignature, s, tx, cancellationToken: ct));
        }

        await DeviceListRepository.InsertChangesAsync(conn, tx, streamId, changes, nowTs, ct);
        await tx.CommitAsync(ct);
    }
}

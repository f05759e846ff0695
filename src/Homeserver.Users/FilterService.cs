using System.Globalization;
using System.Text;
using System.Text.Json;
using Homeserver.Core;
using Homeserver.Core.Configuration;
using Homeserver.Crypto;

namespace Homeserver.Users;

/// <summary>Filters (client-server spec "Filtering"): validated, stored per user in canonical form, read back by ID.</summary>
public sealed class FilterService(HomeserverConfig config, IFilterStore store)
{
    /// <summary>Validates and stores a filter of the requester; returns its ID (the same ID for the same filter).</summary>
    public async Task<string> CreateAsync(Requester requester, string userId, JsonElement filter, CancellationToken ct)
    {
        CheckOwner(requester, userId, "create");
        FilterValidator.Validate(filter);
        byte[] canonical;
        try
        {
            // Legacy mode: any JSON number is kept (unknown fields may hold fractions), in one stable encoding.
            canonical = CanonicalJson.Encode(filter, CanonicalJsonMode.Legacy);
        }
        catch (CanonicalJsonException e)
        {
            throw MatrixException.BadJson($"Invalid filter: {e.Message}");
        }

        var id = await store.AddAsync(userId, Encoding.UTF8.GetString(canonical), ct);
        return id.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>A filter of the requester, as JSON text; 404 M_NOT_FOUND if there is no such filter.</summary>
    public async Task<string> GetAsync(Requester requester, string userId, string filterId, CancellationToken ct)
    {
        CheckOwner(requester, userId, "get");
        if (!long.TryParse(filterId, NumberStyles.None, CultureInfo.InvariantCulture, out var id))
        {
            throw MatrixException.NotFound("No such filter");
        }

        return await store.GetAsync(userId, id, ct) ?? throw MatrixException.NotFound("No such filter");
    }

    private void CheckOwner(Requester requester, string userId, string verb)
    {
        if (!MatrixId.IsValidUserId(userId))
        {
            throw MatrixException.InvalidParam("Invalid user ID");
        }

        if (MatrixId.ServerOf(userId) != config.ServerName)
        {
            throw MatrixException.Forbidden($"Can only {verb} filters for local users");
        }

        if (userId != requester.UserId)
        {
            throw MatrixException.Forbidden($"Cannot {verb} filters for other users");
        }
    }
}

using System.Text.Json.Nodes;

namespace Homeserver.Rooms.Services;

/// <summary>The options of <c>POST /createRoom</c> (client-server API, "Creation"), already validated for shape.</summary>
public sealed record CreateRoomRequest
{
    public string? Preset { get; init; }

    public string? Visibility { get; init; }

    public string? RoomAliasName { get; init; }

    public string? Name { get; init; }

    public string? Topic { get; init; }

    public IReadOnlyList<string> Invite { get; init; } = [];

    public IReadOnlyList<(string Type, string StateKey, JsonObject Content)> InitialState { get; init; } = [];

    public JsonObject? PowerLevelContentOverride { get; init; }

    public JsonObject? CreationContent { get; init; }

    public bool IsDirect { get; init; }

    public string? RoomVersion { get; init; }
}

using System.Text.Json;
using Homeserver.Core;

namespace Homeserver.Users.Tests;

public sealed class FilterValidatorTests
{
    public static TheoryData<string> ValidFilters => new()
    {
        "{}",
        """{"event_fields": ["type", "content.body"], "event_format": "federation"}""",
        """{"presence": {"limit": 0, "types": ["m.presence"], "not_senders": ["@a:example.org"]}}""",
        """{"room": {"rooms": ["!a:example.org", "!roomv12hash"], "include_leave": true, "timeline": {"limit": 50, "lazy_load_members": true, "contains_url": false}}}""",
        """{"room": {"state": {"include_redundant_members": true, "unread_thread_notifications": true, "related_by_rel_types": ["m.thread"]}}}""",
        """{"unknown": [1, 2], "room": {"unknown": {"x": null}, "ephemeral": {"unknown": 3}}}""",
    };

    [Theory]
    [MemberData(nameof(ValidFilters))]
    public void Filters_following_the_schema_are_accepted(string json) =>
        FilterValidator.Validate(JsonDocument.Parse(json).RootElement);

    public static TheoryData<string, string> InvalidFilters => new()
    {
        { "[]", MatrixErrorCode.BadJson },
        { """{"event_fields": [null]}""", MatrixErrorCode.BadJson },
        { """{"event_format": null}""", MatrixErrorCode.BadJson },
        { """{"event_format": "Client"}""", MatrixErrorCode.InvalidParam },
        { """{"account_data": "all"}""", MatrixErrorCode.BadJson },
        { """{"presence": {"limit": true}}""", MatrixErrorCode.BadJson },
        { """{"presence": {"limit": 99999999999999999999}}""", MatrixErrorCode.InvalidParam },
        { """{"presence": {"senders": ["@"]}}""", MatrixErrorCode.InvalidParam },
        { """{"presence": {"types": "m.presence"}}""", MatrixErrorCode.BadJson },
        { """{"room": {"rooms": ["room"]}}""", MatrixErrorCode.InvalidParam },
        { """{"room": {"timeline": {"not_rooms": ["#a:b"]}}}""", MatrixErrorCode.InvalidParam },
        { """{"room": {"timeline": {"related_by_senders": [1]}}}""", MatrixErrorCode.BadJson },
        { """{"room": {"timeline": {"unread_thread_notifications": 1}}}""", MatrixErrorCode.BadJson },
        { """{"room": {"include_leave": null}}""", MatrixErrorCode.BadJson },
    };

    [Theory]
    [MemberData(nameof(InvalidFilters))]
    public void Filters_breaking_the_schema_are_refused_with_the_right_code(string json, string errcode)
    {
        var act = () => FilterValidator.Validate(JsonDocument.Parse(json).RootElement);
        var e = act.Should().Throw<MatrixException>().Which;
        e.ErrorCode.Should().Be(errcode);
        e.HttpStatus.Should().Be(400);
    }
}

namespace Homeserver.Rooms;

/// <summary>
/// Thrown by <see cref="Pdu.Parse(System.Text.Json.JsonElement, Homeserver.Core.RoomVersion, string?)"/> when
/// an event does not comply with the event format of its room version. Per the server-server API
/// ("Checks performed on receipt of a PDU", step 1) such an event is dropped, not rejected.
/// </summary>
public sealed class InvalidPduException : Exception
{
    public InvalidPduException(string message)
        : base(message)
    {
    }

    public InvalidPduException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public InvalidPduException()
        : base("Invalid PDU")
    {
    }
}

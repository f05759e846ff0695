namespace Homeserver.ClientApi;

/// <summary>Path parameters: Kestrel decodes every escape in a path except <c>%2F</c>, which it keeps so that segments stay segments.</summary>
internal static class RouteValues
{
    public static string Decode(string value) =>
        value.Contains('%', StringComparison.Ordinal) ? value.Replace("%2F", "/", StringComparison.OrdinalIgnoreCase) : value;
}

using Microsoft.AspNetCore.Routing;

namespace Homeserver.ClientApi;

/// <summary>Every endpoint of accounts, sessions, devices, profiles and account data, mapped in one call by the host.</summary>
public static class AccountEndpointMap
{
    public static IEndpointRouteBuilder MapAllAccountEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapRegistrationEndpoints();
        app.MapLoginEndpoints();
        app.MapAdminRegistrationEndpoints();
        app.MapRegistrationTokenEndpoints();
        app.MapAccountEndpoints();
        app.MapDeviceEndpoints();
        app.MapProfileEndpoints();
        app.MapAccountDataEndpoints();
        app.MapFilterEndpoints();
        app.MapUserDirectoryEndpoints();
        app.MapCapabilitiesEndpoints();
        app.MapClientModuleEndpoints();
        return app;
    }
}

using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Homeserver.Federation.Client;

namespace Homeserver.Federation.Tests;

/// <summary><c>/.well-known/matrix/server</c>: what counts as an answer, how long it is cached, redirects.</summary>
public sealed class WellKnownFetcherTests
{
    private sealed class FakeHttp(Func<HttpRequestMessage, HttpResponseMessage> answer) : IFederationHttp
    {
        public List<string> Requested { get; } = [];

        public Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, IReadOnlyList<DnsEndPoint> targets, CancellationToken ct)
        {
            Requested.Add(request.RequestUri!.ToString());
            return Task.FromResult(answer(request));
        }
    }

    private static HttpResponseMessage Json(string body, HttpStatusCode status = HttpStatusCode.OK, Action<HttpResponseMessage>? configure = null)
    {
        var response = new HttpResponseMessage(status) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        configure?.Invoke(response);
        return response;
    }

    private static Task<(string? Delegated, TimeSpan CacheFor)> Fetch(Func<HttpRequestMessage, HttpResponseMessage> answer) =>
        new WellKnownFetcher(new FakeHttp(answer)).FetchAsync("example.org", CancellationToken.None);

    [Fact]
    public async Task A_valid_answer_delegates_and_is_cached_for_24_hours_by_default()
    {
        var http = new FakeHttp(_ => Json("""{"m.server": "matrix.example.org:443"}"""));
        var (delegated, cacheFor) = await new WellKnownFetcher(http).FetchAsync("example.org", CancellationToken.None);
        delegated.Should().Be("matrix.example.org:443");
        cacheFor.Should().Be(TimeSpan.FromHours(24));
        http.Requested.Should().Equal("https://example.org/.well-known/matrix/server");
    }

    [Fact]
    public async Task Cache_control_max_age_is_respected_up_to_48_hours_and_no_store_is_not_cached()
    {
        (await Fetch(_ => Json("""{"m.server": "m.example.org"}""", configure: r => r.Headers.CacheControl = new CacheControlHeaderValue { MaxAge = TimeSpan.FromMinutes(10) })))
            .CacheFor.Should().Be(TimeSpan.FromMinutes(10));
        (await Fetch(_ => Json("""{"m.server": "m.example.org"}""", configure: r => r.Headers.CacheControl = new CacheControlHeaderValue { MaxAge = TimeSpan.FromDays(30) })))
            .CacheFor.Should().Be(TimeSpan.FromHours(48));
        (await Fetch(_ => Json("""{"m.server": "m.example.org"}""", configure: r => r.Headers.CacheControl = new CacheControlHeaderValue { NoStore = true })))
            .CacheFor.Should().Be(TimeSpan.Zero);
    }

    public static TheoryData<string, int> Invalid => new()
    {
        { """{"m.server": "matrix.example.org"}""", 404 },
        { """{"m.server": "matrix.example.org"}""", 500 },
        { "not json", 200 },
        { "[]", 200 },
        { "{}", 200 },
        { """{"m.server": 5}""", 200 },
        { """{"m.server": "bad name!"}""", 200 },
        { """{"m.server": "host:notaport"}""", 200 },
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public async Task An_invalid_answer_or_an_error_status_is_no_delegation_cached_for_an_hour(string body, int status)
    {
        var (delegated, cacheFor) = await Fetch(_ => Json(body, (HttpStatusCode)status));
        delegated.Should().BeNull();
        cacheFor.Should().Be(TimeSpan.FromHours(1));
    }

    [Fact]
    public async Task A_body_over_50_KiB_is_refused()
    {
        var padding = new string(' ', 51 * 1024);
        (await Fetch(_ => Json("{\"m.server\": \"matrix.example.org\"" + padding + "}"))).Delegated.Should().BeNull();
    }

    [Fact]
    public async Task Redirects_are_followed()
    {
        var http = new FakeHttp(r => r.RequestUri!.Host == "example.org"
            ? new HttpResponseMessage(HttpStatusCode.MovedPermanently) { Headers = { Location = new Uri("https://www.example.org/.well-known/matrix/server") } }
            : Json("""{"m.server": "matrix.example.org:8448"}"""));
        var (delegated, _) = await new WellKnownFetcher(http).FetchAsync("example.org", CancellationToken.None);
        delegated.Should().Be("matrix.example.org:8448");
        http.Requested.Should().Equal("https://example.org/.well-known/matrix/server", "https://www.example.org/.well-known/matrix/server");
    }

    [Fact]
    public async Task A_redirect_loop_ends_as_no_delegation()
    {
        var http = new FakeHttp(_ => new HttpResponseMessage(HttpStatusCode.Found) { Headers = { Location = new Uri("https://example.org/.well-known/matrix/server") } });
        var (delegated, cacheFor) = await new WellKnownFetcher(http).FetchAsync("example.org", CancellationToken.None);
        delegated.Should().BeNull();
        cacheFor.Should().Be(TimeSpan.FromHours(1));
        http.Requested.Should().HaveCount(5);
    }

    [Fact]
    public async Task A_connection_failure_is_no_delegation_cached_for_an_hour()
    {
        var (delegated, cacheFor) = await Fetch(_ => throw new HttpRequestException("connection refused"));
        delegated.Should().BeNull();
        cacheFor.Should().Be(TimeSpan.FromHours(1));
    }
}

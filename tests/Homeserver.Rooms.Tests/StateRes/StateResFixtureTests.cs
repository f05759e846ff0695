using Homeserver.Rooms.Tests.TestKit;

namespace Homeserver.Rooms.Tests.StateRes;

/// <summary>Runs every fixture under Fixtures/StateRes for each room version it lists.</summary>
public sealed class StateResFixtureTests
{
    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var fixture in StateResFixture.LoadAll())
        {
            foreach (var version in fixture.Versions)
            {
                data.Add(fixture.Name, version);
            }
        }

        return data;
    }

    [Fact]
    public void Fixtures_are_present()
    {
        StateResFixture.LoadAll().Should().HaveCountGreaterThanOrEqualTo(15);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Resolves_as_expected(string fixture, string version)
    {
        var (actual, expected) = await StateResFixture.Load(Path.Combine(StateResFixture.Directory, fixture + ".json")).RunAsync(version);
        actual.Should().BeEquivalentTo(expected);
    }
}

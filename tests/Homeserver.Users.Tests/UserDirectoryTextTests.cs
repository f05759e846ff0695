namespace Homeserver.Users.Tests;

public sealed class UserDirectoryTextTests
{
    [Theory]
    [InlineData("Alice", new[] { "alice" })]
    [InlineData("  alice   LIDDELL ", new[] { "alice", "liddell" })]
    [InlineData("@bob.smith:example.org", new[] { "bob", "smith", "example", "org" })]
    [InlineData("%_'; DROP", new[] { "drop" })]
    [InlineData("Élodie Ünal", new[] { "élodie", "ünal" })]
    [InlineData("a a A", new[] { "a" })]
    [InlineData("", new string[0])]
    public void Search_terms_are_lower_case_words_of_letters_and_digits(string term, string[] words) =>
        UserDirectoryService.Tokenise(term).Should().Equal(words);

    [Fact]
    public void At_most_ten_search_words_are_used()
    {
        UserDirectoryService.Tokenise(string.Join(' ', Enumerable.Range(0, 20).Select(i => "w" + i))).Should().HaveCount(10);
    }

    [Fact]
    public void The_stored_search_text_has_every_word_of_the_id_and_display_name_after_a_space()
    {
        UserDirectoryService.SearchText("@alice:example.org", "Alice Liddell").Should().Be(" alice example org liddell");
        UserDirectoryService.SearchText("@bob:example.org", null).Should().Be(" bob example org");
    }
}

using static Homeserver.Crypto.Tests.TestSupport;

namespace Homeserver.Crypto.Tests;

public sealed class CanonicalJsonNumberTests
{
    /// <summary>
    /// Literal, then what Python writes for it: python3 -c 'import json; print(json.dumps(json.loads(LITERAL)))'
    /// (Python 3.11 on the development machine; the random literals come from random.seed(19)).
    /// </summary>
    public static TheoryData<string, string> PythonFloats => new()
    {
        { "1.0", "1.0" },
        { "1e10", "10000000000.0" },
        { "1E5", "100000.0" },
        { "-0.0", "-0.0" },
        { "0.1", "0.1" },
        { "1e16", "1e+16" },
        { "1e15", "1000000000000000.0" },
        { "9999999999999998.0", "9999999999999998.0" },
        { "123456789012345678.0", "1.2345678901234568e+17" },
        { "0.0001", "0.0001" },
        { "0.00001", "1e-05" },
        { "1e-7", "1e-07" },
        { "1.5e300", "1.5e+300" },
        { "5e-324", "5e-324" },
        { "1.7976931348623157e308", "1.7976931348623157e+308" },
        { "2.5", "2.5" },
        { "-1.25e-5", "-1.25e-05" },
        { "3.14159", "3.14159" },
        { "100.0", "100.0" },
        { "1e22", "1e+22" },
        { "1e21", "1e+21" },
        { "0.3", "0.3" },
        { "2e-4", "0.0002" },
        { "123.456e2", "12345.6" },
        { "4.35", "4.35" },
        { "0.1e1", "1.0" },
        { "1.23456789012345678", "1.2345678901234567" },
        { "1e-400", "0.0" },
        { "-1.5E+3", "-1500.0" },
        { "0e0", "0.0" },
        { "-0e5", "-0.0" },
        { "12345678901234567890.5", "1.2345678901234567e+19" },
        { "6.771258268002703e20", "6.771258268002703e+20" },
        { "8.954109886323373e-23", "8.954109886323374e-23" },
        { "5.114917024932602e-5", "5.114917024932602e-05" },
        { "3.4716884044421414e3", "3471.6884044421413" },
        { "2.893649457745707e-21", "2.893649457745707e-21" },
        { "5.949995984217418e-24", "5.949995984217418e-24" },
        { "2.60437193601329e-10", "2.60437193601329e-10" },
        { "9.680077081018004e23", "9.680077081018004e+23" },
        { "1.0764393786564574e-10", "1.0764393786564575e-10" },
        { "8.97201443546005e-29", "8.97201443546005e-29" },
        { "5.692400158763195e-18", "5.692400158763195e-18" },
        { "8.791454886703768e28", "8.791454886703769e+28" },
        { "2.025520288489131e4", "20255.20288489131" },
        { "4.556069775563612e25", "4.556069775563612e+25" },
        { "7.334705745704592e21", "7.334705745704592e+21" },
        { "0.9849147062329644e-29", "9.849147062329645e-30" },
        { "0.9935841395778411e16", "9935841395778412.0" },
        { "4.231798779641325e24", "4.231798779641325e+24" },
        { "3.960633310698073e12", "3960633310698.073" },
        { "9.892121873725264e6", "9892121.873725263" },
        { "9.148934744469893e23", "9.148934744469893e+23" },
        { "1.5851926648589232e10", "15851926648.589231" },
        { "9.539150178908786e-16", "9.539150178908786e-16" },
        { "7.746928300354773e6", "7746928.300354773" },
    };

    [Theory]
    [MemberData(nameof(PythonFloats))]
    public void Legacy_mode_writes_non_integers_exactly_as_python_does(string literal, string python) =>
        Canonical("[" + literal + "]", CanonicalJsonMode.Legacy).Should().Be("[" + python + "]");

    [Theory]
    [InlineData("12345678901234567890", "12345678901234567890")]
    [InlineData("-99999999999999999999999999", "-99999999999999999999999999")]
    [InlineData("-0", "0")]
    [InlineData("7", "7")]
    public void Legacy_mode_keeps_integer_literals_of_any_size_like_python(string literal, string python) =>
        Canonical(literal, CanonicalJsonMode.Legacy).Should().Be(python);

    [Theory]
    [InlineData("1e400")]
    [InlineData("-1e400")]
    public void Legacy_mode_rejects_numbers_python_would_turn_into_infinity(string literal)
    {
        var act = () => Canonical(literal, CanonicalJsonMode.Legacy);
        act.Should().Throw<CanonicalJsonException>();
    }

    [Theory]
    [InlineData("1e10", "10000000000")]
    [InlineData("1.0", "1")]
    [InlineData("-0", "0")]
    [InlineData("-0.0", "0")]
    [InlineData("0e99999999999999999999", "0")]
    [InlineData("1.50e1", "15")]
    [InlineData("-2.5E+2", "-250")]
    [InlineData("12300e-2", "123")]
    [InlineData("9007199254740991", "9007199254740991")]
    [InlineData("9.007199254740991e15", "9007199254740991")]
    [InlineData("-9007199254740991.000", "-9007199254740991")]
    public void Integral_values_mode_accepts_any_notation_of_an_integer_in_range(string literal, string expected) =>
        Canonical(literal, CanonicalJsonMode.IntegralValues).Should().Be(expected);

    [Theory]
    [InlineData("1.5")]
    [InlineData("1e-1")]
    [InlineData("9007199254740992")]
    [InlineData("9.007199254740992e15")]
    [InlineData("1e16")]
    [InlineData("1e99999999999999999999")]
    [InlineData("1e-99999999999999999999")]
    public void Integral_values_mode_rejects_fractions_and_out_of_range_values(string literal)
    {
        var act = () => Canonical(literal, CanonicalJsonMode.IntegralValues);
        act.Should().Throw<CanonicalJsonException>();
    }

    [Fact]
    public void Python_float_formatting_agrees_with_the_table_for_random_doubles_round_tripped_through_it()
    {
        // Idempotence check on top of the Python table: re-parsing what we wrote gives the same double and the same text.
        var random = new Random(7);
        for (var i = 0; i < 2000; i++)
        {
            var value = BitConverter.Int64BitsToDouble(random.NextInt64());
            if (!double.IsFinite(value))
            {
                continue;
            }

            var text = CanonicalJsonNumbers.FormatPythonFloat(value);
            double.Parse(text, System.Globalization.CultureInfo.InvariantCulture).Should().Be(value);
            Canonical("[" + text + "]", CanonicalJsonMode.Legacy).Should().Be("[" + text + "]");
        }
    }
}

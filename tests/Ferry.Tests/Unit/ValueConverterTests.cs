using System.Globalization;
using Ferry.Mapping;
using ValueType = Ferry.Manifest.ValueType;

namespace Ferry.Tests.Unit;

public class ValueConverterTests
{
    [Theory]
    [InlineData("2024-02-29")]
    [InlineData("2023-02-29")]
    [InlineData(" 2024-01-05 ")]
    [InlineData("2024-1-05")]
    [InlineData("2024-13-01")]
    [InlineData("2024-00-10")]
    [InlineData("2024-01-00")]
    [InlineData("2024-04-31")]
    [InlineData("0000-01-01")]
    [InlineData("0001-01-01")]
    [InlineData("9999-12-31")]
    [InlineData("2024/01/05")]
    [InlineData("2024-01-0x")]
    [InlineData("２０２４-01-05")]
    [InlineData("20240105")]
    [InlineData("+024-01-05")]
    public void A_date_reads_exactly_as_the_general_parser_reads_it(string text)
    {
        foreach (var format in new[] { "yyyy-MM-dd", null })
        {
            var expected = format is null
                ? DateOnly.TryParseExact(text.Trim(), ["yyyy-MM-dd", "yyyyMMdd"], CultureInfo.InvariantCulture, DateTimeStyles.None, out var date)
                : DateOnly.TryParseExact(text.Trim(), format, CultureInfo.InvariantCulture, DateTimeStyles.None, out date);

            var parsed = ValueConverter.TryParse(ValueType.Date, text, format, out var value);

            Assert.Equal(expected, parsed);
            if (expected)
                Assert.Equal(date, value);
        }
    }
}

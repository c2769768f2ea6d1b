using System.Globalization;
using Ferry.Mapping;
using ValueType = Ferry.Manifest.ValueType;

namespace Ferry.Tests.Unit;

/// <summary>
/// <see cref="ValueBoxes"/> through <see cref="ValueConverter.TryParse"/>: a parsed value is always its
/// own value, whatever another value left in its slot, and a value parsed again shares the box made
/// the first time.
/// </summary>
public class ValueBoxesTests
{
    private static object Parse(ValueType type, string text, string? format = null)
    {
        Assert.True(ValueConverter.TryParse(type, text, format, out var value));
        return value!;
    }

    [Fact]
    public void Dates_that_share_a_slot_each_come_back_as_themselves()
    {
        // 4,096 days apart: the same slot. Each round asks for them in another order.
        var first = new DateOnly(2024, 1, 15).DayNumber;
        var dates = new[] { 0, 1, -1, 2, -2 }.Select(k => DateOnly.FromDayNumber(first + k * 4096)).Append(new DateOnly(2024, 1, 16))
            .Select(d => d.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)).ToArray();
        for (var round = 0; round < dates.Length; round++)
        {
            foreach (var text in dates.Skip(round).Concat(dates.Take(round)))
                Assert.Equal(DateOnly.ParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture), Parse(ValueType.Date, text));
        }
    }

    [Fact]
    public void A_decimal_keeps_its_scale_and_its_sign_even_where_an_equal_one_was_boxed()
    {
        var texts = new[] { "1.5", "1.50", "1.500", "0", "-0.0", "0.0", "12.50", "12.5", "-12.5" };
        for (var round = 0; round < 2; round++)
        {
            foreach (var text in texts)
            {
                var value = (decimal)Parse(ValueType.Decimal, text);
                Assert.Equal(decimal.Parse(text, CultureInfo.InvariantCulture).ToString(CultureInfo.InvariantCulture), value.ToString(CultureInfo.InvariantCulture));
                Assert.Equal(decimal.GetBits(decimal.Parse(text, CultureInfo.InvariantCulture)), decimal.GetBits(value));
            }
        }
    }

    [Fact]
    public void Equal_decimals_of_another_scale_never_take_each_others_box()
    {
        // 200,000 pairs of equal values, the second with one more decimal place: some pairs share a
        // slot, where only the bits tell them apart.
        for (var i = 0; i < 200_000; i++)
        {
            var text = (i / 100m).ToString("F2", CultureInfo.InvariantCulture);
            Assert.Equal(text, ((decimal)Parse(ValueType.Decimal, text)).ToString(CultureInfo.InvariantCulture));
            Assert.Equal(text + "0", ((decimal)Parse(ValueType.Decimal, text + "0")).ToString(CultureInfo.InvariantCulture));
        }
    }

    [Fact]
    public void Integers_on_both_sides_of_the_kept_range_are_themselves()
    {
        foreach (var n in new long[] { -129, -128, -1, 0, 1, 12, 1023, 1024, 5_000_000_000, long.MinValue, long.MaxValue })
        {
            Assert.Equal(n, Parse(ValueType.Int, n.ToString(CultureInfo.InvariantCulture)));
            Assert.Equal(n, Parse(ValueType.Int, " " + n.ToString(CultureInfo.InvariantCulture)));
        }
        Assert.Equal(true, Parse(ValueType.Bool, "yes"));
        Assert.Equal(false, Parse(ValueType.Bool, "0"));
    }

    [Fact]
    public void A_value_parsed_again_shares_the_box_made_the_first_time()
    {
        Assert.Same(Parse(ValueType.Date, "2024-03-01"), Parse(ValueType.Date, "2024-03-01"));
        Assert.Same(Parse(ValueType.Int, "7"), Parse(ValueType.Int, "+7"));
        Assert.Same(Parse(ValueType.Decimal, "19.99"), Parse(ValueType.Decimal, "19.99"));
        Assert.Same(Parse(ValueType.Bool, "true"), Parse(ValueType.Bool, "y"));
        // Not boxes of another value.
        Assert.NotSame(Parse(ValueType.Decimal, "19.99"), Parse(ValueType.Decimal, "19.990"));
    }
}

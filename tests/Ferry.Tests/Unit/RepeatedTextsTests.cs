using Ferry.Sources;

namespace Ferry.Tests.Unit;

/// <summary>
/// <see cref="RepeatedTexts"/>: every value comes back as its own text, whatever the slots hold; a
/// value a column repeats comes back as the one string kept for it.
/// </summary>
public class RepeatedTextsTests
{
    [Fact]
    public void Every_text_comes_back_equal_to_itself_however_many_share_a_slot()
    {
        // 20,000 distinct texts of one column: far more than its 1,024 slots, so slots are shared and
        // a kept string must never stand for another text. Each round asks for them in another order.
        var texts = new RepeatedTexts(2);
        var values = Enumerable.Range(0, 20_000).Select(i => $"v{i % 97}-{i}-{(char)('a' + i % 26)}").ToList();
        for (var round = 0; round < 3; round++)
        {
            var random = new Random(round);
            foreach (var value in values.OrderBy(_ => random.Next()))
                Assert.Equal(value, texts.Get(0, value.AsSpan()));
        }
        // Texts that differ only inside (same length, first and last four characters) share a slot.
        foreach (var value in new[] { "2024-01-15", "2024-02-15", "2024-01-15", "2024-11-15", "2024-02-15" })
            Assert.Equal(value, texts.Get(1, value.AsSpan()));
    }

    [Fact]
    public void A_value_a_column_repeats_comes_back_as_the_same_string_and_columns_keep_their_own()
    {
        var texts = new RepeatedTexts(3);
        var statuses = new[] { "open", "closed", "in_progress", "withdrawn", "refused" };
        var first = statuses.ToDictionary(s => s, s => texts.Get(0, s.AsSpan().ToArray()));
        for (var i = 0; i < 10_000; i++)
        {
            var status = statuses[i % statuses.Length];
            // A fresh array each time: the text is equal, never the same memory.
            Assert.Same(first[status], texts.Get(0, status.ToCharArray()));
            // Another column with the same values has strings of its own, equal to them.
            var other = texts.Get(1, status.ToCharArray());
            Assert.Equal(status, other);
            Assert.NotSame(first[status], other);
        }
    }

    [Fact]
    public void Long_and_empty_texts_and_columns_past_the_last_come_back_equal()
    {
        var texts = new RepeatedTexts(1);
        var longText = new string('x', RepeatedTexts.MaxLength + 1);
        var a = texts.Get(0, longText.AsSpan());
        var b = texts.Get(0, longText.AsSpan());
        Assert.Equal(longText, a);
        Assert.Equal(longText, b);
        Assert.NotSame(a, b); // free text is not kept
        Assert.Same(string.Empty, texts.Get(0, ReadOnlySpan<char>.Empty));
        Assert.Equal("beyond", texts.Get(5, "beyond".AsSpan()));
        Assert.Equal("also", texts.Get(-1, "also".AsSpan()));
    }

    [Fact]
    public void A_column_whose_values_seldom_repeat_is_passed_by_and_its_repeats_still_come_back_equal()
    {
        var texts = new RepeatedTexts(2);
        // 5,000 distinct references: judged after 4,096 lookups, with no repeat, then passed by.
        for (var i = 0; i < 5_000; i++)
            Assert.Equal($"FOI-{i:D6}", texts.Get(0, $"FOI-{i:D6}".AsSpan()));
        var x = texts.Get(0, "FOI-000001".AsSpan());
        var y = texts.Get(0, "FOI-000001".AsSpan());
        Assert.Equal("FOI-000001", x);
        Assert.Equal("FOI-000001", y);
        Assert.NotSame(x, y);
        // The other column still shares its repeated values.
        Assert.Same(texts.Get(1, "closed".AsSpan()), texts.Get(1, "closed".ToCharArray()));
    }
}

using Ferry.Reconciliation;

namespace Ferry.Tests.Unit;

public class CanonicalKeyTests
{
    private static string KeyChars(object?[] values, params int[] keyColumns)
    {
        var buffer = new char[4];
        var length = CanonicalValues.KeyChars(values, keyColumns, ref buffer);
        return new string(buffer, 0, length);
    }

    [Fact]
    public void A_key_is_written_as_its_values_show_joined_by_the_unit_separator()
    {
        var uuid = new Guid("2ed6657d-e927-568b-95e1-2665a8aea6a2");
        object?[] values = [uuid, 42L, new DateOnly(2024, 2, 29), "A7", 12.5m, true, new DateTime(2024, 3, 1, 10, 20, 30, DateTimeKind.Utc), null];

        Assert.Equal("2ed6657d-e927-568b-95e1-2665a8aea6a2", KeyChars(values, 0));
        Assert.Equal("-9223372036854775808", KeyChars([long.MinValue], 0));
        Assert.Equal("2024-02-29", KeyChars(values, 2));
        Assert.Equal("2ed6657d-e927-568b-95e1-2665a8aea6a2\u001F42\u001F2024-02-29\u001FA7\u001F12.5\u001Ftrue\u001F2024-03-01T10:20:30Z\u001F",
            KeyChars(values, 0, 1, 2, 3, 4, 5, 6, 7));
        Assert.Equal("A7\u001F2ed6657d-e927-568b-95e1-2665a8aea6a2", KeyChars(values, 3, 0));
        Assert.Equal("", KeyChars(values, 7));
    }

    [Fact]
    public void A_key_longer_than_the_buffer_grows_it_and_Key_gives_the_same_text()
    {
        var text = new string('x', 300) + "é";
        object?[] values = [text, 5L];
        var buffer = new char[64];
        var length = CanonicalValues.KeyChars(values, [0, 1], ref buffer);
        Assert.True(buffer.Length >= 303);
        Assert.Equal(text + "\u001F5", new string(buffer, 0, length));
        Assert.Equal(text + "\u001F5", CanonicalValues.Key(values, [0, 1]));

        // An empty buffer grows too.
        var empty = Array.Empty<char>();
        Assert.Equal(3, CanonicalValues.KeyChars(["abc"], [0], ref empty));
    }
}

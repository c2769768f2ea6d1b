using System.Text.Encodings.Web;
using System.Text.Json;

namespace Ferry.KeyMap;

/// <summary>
/// How a row's legacy key becomes the text the key map stores. One column: its value, trimmed
/// (<c>17</c>). Several: a JSON array of the trimmed values (<c>["north","17"]</c>), which no value's
/// own text can imitate, so two different keys never share a text.
/// </summary>
public static class LegacyKeyText
{
    private static readonly JsonSerializerOptions Json = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>A legacy key value as the key map compares it: trimmed; null when blank.</summary>
    public static string? Value(string? raw)
    {
        if (raw is null)
            return null;
        var trimmed = raw.AsSpan().Trim();
        return trimmed.IsEmpty ? null : trimmed.Length == raw.Length ? raw : trimmed.ToString();
    }

    /// <summary>The legacy key of a source row from its <paramref name="columns"/>; null when a part is blank.</summary>
    public static string? Of(string?[] source, int[] columns)
    {
        if (columns.Length == 1)
            return Value(source[columns[0]]);
        var parts = new string[columns.Length];
        for (var i = 0; i < columns.Length; i++)
        {
            if (Value(source[columns[i]]) is not { } part)
                return null;
            parts[i] = part;
        }
        return JsonSerializer.Serialize(parts, Json);
    }
}

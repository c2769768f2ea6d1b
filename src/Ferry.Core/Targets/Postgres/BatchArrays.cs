using System.Globalization;
using System.Text;
using Ferry.Engine;

namespace Ferry.Targets.Postgres;

/// <summary>
/// A batch's lines and keys as one text parameter each, split into arrays by the server with
/// <c>string_to_array</c>: lines joined by commas, keys by U+001F with U+001E for a row without a
/// key. Splitting costs the server a fifth of unnesting a JSON array in order, and an array
/// parameter of thousands of elements costs the client more than the rest of the batch's ledger
/// work. A key holding either separator (or a lone empty key, which splits into no element) goes as
/// the JSON array every target's batch record uses (<see cref="BatchJson"/>) instead.
/// </summary>
internal sealed class BatchArrays
{
    private const char KeySeparator = '\u001F', NullKey = '\u001E';

    /// <summary>
    /// The lines' array from <c>@lines</c>: <c>first-last</c> for consecutive lines (the usual batch,
    /// which the server then counts out itself), else the lines joined by commas; NULL stays NULL.
    /// </summary>
    public const string LinesSql = "CASE WHEN strpos(@lines::text, '-') > 0 " +
                                   "THEN ARRAY(SELECT generate_series(split_part(@lines::text, '-', 1)::bigint, split_part(@lines::text, '-', 2)::bigint)) " +
                                   "ELSE string_to_array(@lines::text, ',')::bigint[] END";

    /// <summary>The keys' array from <c>@keys</c>, split or (with <c>@keys_json</c>) unnested; NULL stays NULL.</summary>
    public const string KeysSql = "CASE WHEN @keys_json THEN ARRAY(SELECT v FROM json_array_elements_text(@keys::json) WITH ORDINALITY e(v, n) ORDER BY n) " +
                                  "ELSE string_to_array(@keys::text, E'\\x1f', E'\\x1e') END";

    private readonly StringBuilder text = new();
    private readonly BatchJson json = new();

    public string Lines(IReadOnlyList<BatchRow> rows)
    {
        var consecutive = rows.Count > 1;
        for (var i = 1; consecutive && i < rows.Count; i++)
            consecutive = rows[i].Line == rows[i - 1].Line + 1;
        if (consecutive)
            return string.Create(CultureInfo.InvariantCulture, $"{rows[0].Line}-{rows[^1].Line}");
        text.Clear();
        for (var i = 0; i < rows.Count; i++)
        {
            if (i > 0)
                text.Append(',');
            text.Append(CultureInfo.InvariantCulture, $"{rows[i].Line}");
        }
        return text.ToString();
    }

    /// <summary>The <c>@keys</c> and <c>@keys_json</c> parameters of these rows' keys.</summary>
    public (string Name, object? Value)[] Keys(IReadOnlyList<BatchRow> rows)
    {
        var joined = Join(rows.Count, i => rows[i].Key);
        return joined is null
            ? [("keys", Encoding.UTF8.GetString(json.Keys(rows))), ("keys_json", true)]
            : [("keys", joined), ("keys_json", false)];
    }

    /// <summary>
    /// The <c>@name</c> and <c>@name_json</c> parameters of these texts, which <see cref="TextsSql"/> makes an array:
    /// the key map's legacy keys, sent so instead of as an array parameter, which cost the client more per element.
    /// </summary>
    public (string Name, object? Value)[] Texts(string name, IReadOnlyList<string> values)
    {
        var joined = Join(values.Count, i => values[i]);
        return joined is null
            ? [(name, System.Text.Json.JsonSerializer.Serialize(values)), (name + "_json", true)]
            : [(name, joined), (name + "_json", false)];
    }

    /// <summary>The array of <see cref="Texts"/>' parameters <c>@name</c> and <c>@name_json</c>.</summary>
    public static string TextsSql(string name) => KeysSql.Replace("@keys", "@" + name, StringComparison.Ordinal);

    /// <summary>UUIDs joined by commas, for <c>string_to_array(@p, ',')::uuid[]</c>.</summary>
    public static string Uuids(IReadOnlyList<Guid> uuids) => string.Create(uuids.Count * 37 - (uuids.Count > 0 ? 1 : 0), uuids, static (span, list) =>
    {
        for (var i = 0; i < list.Count; i++)
        {
            if (i > 0)
            {
                span[0] = ',';
                span = span[1..];
            }
            list[i].TryFormat(span, out var written);
            span = span[written..];
        }
    });

    /// <summary>The texts joined by U+001F (U+001E for null), or null when one holds a separator or a lone text is empty.</summary>
    private string? Join(int count, Func<int, string?> at)
    {
        var plain = !(count == 1 && at(0) is "");
        for (var i = 0; plain && i < count; i++)
            plain = at(i) is not { } key || key.AsSpan().IndexOfAny(KeySeparator, NullKey) < 0;
        if (!plain)
            return null;
        text.Clear();
        for (var i = 0; i < count; i++)
        {
            if (i > 0)
                text.Append(KeySeparator);
            if (at(i) is { } key)
                text.Append(key);
            else
                text.Append(NullKey);
        }
        return text.ToString();
    }

    /// <summary>The <c>@keys</c> and <c>@keys_json</c> parameters of no keys at all: the column stays NULL.</summary>
    public static readonly (string Name, object? Value)[] NoKeys = [("keys", null), ("keys_json", false)];
}

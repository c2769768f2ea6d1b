namespace Ferry.Pipeline;

/// <summary>
/// Splits a SQL file into its statements at the semicolons that end them: not those inside quotes
/// ('…', "…"), dollar quotes ($$…$$, $tag$…$tag$) or comments (-- …, /* … */). Each statement keeps
/// its offset in the file, so an error's position becomes the file's line.
/// </summary>
internal static class SqlStatements
{
    public static IEnumerable<(int Start, string Text)> Split(string sql)
    {
        var start = 0;
        var i = 0;
        while (i < sql.Length)
        {
            var c = sql[i];
            if (c is '\'' or '"')
                i = SkipPast(sql, i + 1, c.ToString());
            else if (c == '-' && At(sql, i, "--"))
                i = SkipPast(sql, i + 2, "\n");
            else if (c == '/' && At(sql, i, "/*"))
                i = SkipPast(sql, i + 2, "*/");
            else if (c == '$' && DollarTag(sql, i) is { } tag)
                i = SkipPast(sql, i + tag.Length, tag);
            else if (c == ';')
            {
                if (!string.IsNullOrWhiteSpace(sql[start..i]))
                    yield return (start, sql[start..i]);
                start = ++i;
            }
            else
                i++;
        }
        if (HasCode(sql[start..]))
            yield return (start, sql[start..]);
    }

    /// <summary>The 1-based line of a 0-based offset.</summary>
    public static int LineAt(string sql, int offset) => sql.AsSpan(0, Math.Clamp(offset, 0, sql.Length)).Count('\n') + 1;

    private static bool At(string sql, int i, string text) => string.CompareOrdinal(sql, i, text, 0, text.Length) == 0;

    private static int SkipPast(string sql, int from, string end)
    {
        var found = sql.IndexOf(end, from, StringComparison.Ordinal);
        return found < 0 ? sql.Length : found + end.Length;
    }

    /// <summary>A dollar-quote opening at <paramref name="i"/> (<c>$$</c> or <c>$tag$</c>), or null for a parameter like <c>$1</c>.</summary>
    private static string? DollarTag(string sql, int i)
    {
        var j = i + 1;
        while (j < sql.Length && (char.IsLetterOrDigit(sql[j]) || sql[j] == '_'))
            j++;
        if (j >= sql.Length || sql[j] != '$' || (j > i + 1 && char.IsDigit(sql[i + 1])))
            return null;
        return sql[i..(j + 1)];
    }

    /// <summary>A trailing piece holds a statement unless it is only white space and comments.</summary>
    private static bool HasCode(string rest)
    {
        var i = 0;
        while (i < rest.Length)
        {
            if (char.IsWhiteSpace(rest[i]))
                i++;
            else if (At(rest, i, "--"))
                i = SkipPast(rest, i + 2, "\n");
            else if (At(rest, i, "/*"))
                i = SkipPast(rest, i + 2, "*/");
            else
                return true;
        }
        return false;
    }
}

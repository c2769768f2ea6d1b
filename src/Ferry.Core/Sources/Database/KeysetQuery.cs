namespace Ferry.Sources.Database;

/// <summary>
/// The parts of an entity's keyset query that every database writes alike, already quoted: the
/// select list, the table or query it reads (aliased <see cref="Alias"/>) and the key columns.
/// Columns are qualified with the alias so that ORDER BY and WHERE name the stored column, never a
/// select-list expression of the same name (a <c>decode</c>d column is one).
/// </summary>
public sealed record KeysetQuery(string Select, string From, IReadOnlyList<string> Key)
{
    public const string Alias = "src";

    /// <summary>A table (<c>name</c> or <c>schema.name</c>) or a query, as a FROM item.</summary>
    public static string Source(ISqlDialect dialect, string? table, string? query) => table is not null
        ? $"{string.Join('.', table.Split('.').Select(dialect.Quote))} AS {Alias}"
        : $"({query!.Trim().TrimEnd(';').TrimEnd()}) AS {Alias}";

    /// <param name="decode">Columns read as their stored bytes (<see cref="ISqlDialect.StoredBytes"/>).</param>
    public static KeysetQuery Create(ISqlDialect dialect, string from, IReadOnlyList<string> columns, IReadOnlyList<string> key, IReadOnlySet<string> decode)
    {
        string Qualified(string column) => $"{Alias}.{dialect.Quote(column)}";
        var select = columns.Select(c => decode.Contains(c) ? $"{dialect.StoredBytes(Qualified(c))} AS {dialect.Quote(c)}" : Qualified(c));
        return new KeysetQuery(string.Join(", ", select), from, key.Select(Qualified).ToList());
    }

    public string OrderBy => string.Join(", ", Key);

    /// <summary><c>(k1, k2) &gt; (@p0, @p1)</c>: for databases that compare rows (lexicographically) and use an index for it.</summary>
    public string RowAfter(ISqlDialect dialect) => Key.Count == 1
        ? $"{Key[0]} > {dialect.Parameter(0)}"
        : $"({OrderBy}) > ({string.Join(", ", Key.Select((_, i) => dialect.Parameter(i)))})";

    /// <summary>
    /// <c>k1 &gt;= @p0 AND (k1 &gt; @p0 OR (k1 = @p0 AND k2 &gt; @p1))</c>: the same condition spelt out, for
    /// databases without row comparison or that cannot use an index for it. The leading
    /// <c>k1 &gt;= @p0</c> is implied by the rest; it is there so the optimiser starts a range scan.
    /// </summary>
    public string ExpandedAfter(ISqlDialect dialect)
    {
        var terms = new List<string>();
        for (var i = 0; i < Key.Count; i++)
        {
            var equal = Enumerable.Range(0, i).Select(j => $"{Key[j]} = {dialect.Parameter(j)}");
            var term = string.Join(" AND ", equal.Append($"{Key[i]} > {dialect.Parameter(i)}"));
            terms.Add(i == 0 ? term : $"({term})");
        }
        return Key.Count == 1
            ? terms[0]
            : $"{Key[0]} >= {dialect.Parameter(0)} AND ({string.Join(" OR ", terms)})";
    }

    /// <summary>1 when some row has a NULL in a key column (such a row would never be paged to), else 0. Portable SQL.</summary>
    public string NullKeyCheck =>
        $"SELECT CASE WHEN EXISTS (SELECT 1 FROM {From} WHERE {string.Join(" OR ", Key.Select(k => $"{k} IS NULL"))}) THEN 1 ELSE 0 END";
}

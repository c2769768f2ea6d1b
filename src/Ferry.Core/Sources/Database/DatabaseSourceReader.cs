using System.Collections;
using System.Data.Common;
using Ferry.Manifest;

namespace Ferry.Sources.Database;

/// <summary>
/// One entity's table or query in a database, read in key order a page at a time (keyset
/// pagination: <c>WHERE key &gt; last key ORDER BY key LIMIT n</c>), so that no statement holds the
/// database for long, memory holds one row, and any row's key is a place to start again. Rows are
/// numbered 1, 2, 3 … in key order; that number is the row's line, which checkpoints record.
/// </summary>
public sealed class DatabaseSourceReader : ISourceReader, IKeysetSource
{
    private readonly ISqlDialect dialect;
    private readonly DbConnection connection;
    private readonly KeysetQuery query;
    private readonly string[] columns;
    private readonly ColumnText[] texts;
    private readonly RepeatedTexts repeated;
    private readonly bool[] plain; // a column whose text is rendered as it is (no rule)
    private readonly bool[] got; // a row's columns whose text GetTexts gave
    private readonly int[] keyOrdinals;
    private readonly int pageSize;
    private IPageRows? page;
    private int pageRows;
    private object[]? lastKey;
    private long line;
    private bool keysChecked;
    private bool exhausted;

    private DatabaseSourceReader(string origin, ISqlDialect dialect, DbConnection connection, KeysetQuery query, string[] columns,
        ColumnText[] texts, int[] keyOrdinals, int pageSize)
    {
        Origin = origin;
        this.dialect = dialect;
        this.connection = connection;
        this.query = query;
        this.columns = columns;
        this.texts = texts;
        repeated = new RepeatedTexts(columns.Length);
        plain = Array.ConvertAll(texts, t => t.Rule is null);
        got = new bool[columns.Length];
        this.keyOrdinals = keyOrdinals;
        this.pageSize = pageSize;
    }

    public string Origin { get; }
    public IReadOnlyList<string> Columns => columns;

    /// <summary>Unknown: counting the rows would cost a scan of the table before the first row.</summary>
    public double? Progress => null;

    /// <summary>
    /// Connects and learns the entity's columns (a query that returns no row), checking that its
    /// key and <c>convert</c> columns exist. Pages are as long as the entity's batches.
    /// </summary>
    public static async Task<DatabaseSourceReader> OpenAsync(MigrationManifest manifest, EntitySpec entity, CancellationToken cancellationToken)
    {
        var spec = manifest.Source;
        var from = entity.From ?? throw new InvalidOperationException($"entity {entity.Name} has no 'from'");
        var dialect = SqlDialects.For(spec.Kind);
        var origin = from.Table is { } table ? $"{dialect.Name} table {table}" : $"{dialect.Name} query of entity {entity.Name}";
        DbConnection connection;
        try
        {
            connection = dialect.CreateConnection(spec.Connection!.Reveal(), manifest.Directory);
        }
        catch (ArgumentException ex)
        {
            throw new SourceException(origin, 0, "connection", $"cannot use the source connection: {ex.Message}", ex);
        }
        try
        {
            var source = KeysetQuery.Source(dialect, from.Table, from.Query);
            var (names, types) = await ProbeAsync(connection, from.Columns is { } listed
                ? $"SELECT {string.Join(", ", listed.Select(c => $"{KeysetQuery.Alias}.{dialect.Quote(c)}"))} FROM {source} WHERE 1 = 0"
                : $"SELECT {KeysetQuery.Alias}.* FROM {source} WHERE 1 = 0", cancellationToken).ConfigureAwait(false);

            var errors = new List<ManifestError>();
            void Error(string message) => errors.Add(new ManifestError(manifest.FilePath, from.Line, 1, $"entity '{entity.Name}': {message}"));
            foreach (var twice in names.GroupBy(n => n, StringComparer.OrdinalIgnoreCase).Where(g => g.Count() > 1))
                Error($"{origin} returns column '{twice.Key}' more than once; give each column its own name (AS …)");
            foreach (var name in from.Key.Concat(from.Convert.Keys).Where(n => !names.Contains(n, StringComparer.Ordinal)))
                Error($"'from' names column '{name}', which {origin} does not have (it has: {string.Join(", ", names)})");
            if (errors.Count > 0)
                throw new ManifestException(errors);

            var encoding = TextEncodings.Get(spec.Encoding);
            var texts = names.Select((n, i) => new ColumnText(n, from.Convert.TryGetValue(n, out var rule) ? rule : null,
                types[i].Equals("date", StringComparison.OrdinalIgnoreCase), encoding, spec.ZeroDates)).ToArray();
            var decode = from.Convert.Where(p => p.Value == ValueRule.Decode).Select(p => p.Key).ToHashSet(StringComparer.Ordinal);
            var query = KeysetQuery.Create(dialect, source, names, from.Key, decode);
            var keyOrdinals = from.Key.Select(k => Array.IndexOf(names, k)).ToArray();
            return new DatabaseSourceReader(origin, dialect, connection, query, names, texts, keyOrdinals, entity.BatchSize);
        }
        catch (DbException ex)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw new SourceException(origin, 0, "database", $"cannot read {origin}: {ex.Message}", ex);
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static async Task<(string[] Names, string[] Types)> ProbeAsync(DbConnection connection, string sql, CancellationToken cancellationToken)
    {
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var probe = connection.CreateCommand();
        probe.CommandText = sql;
        await using var result = await probe.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var names = new string[result.FieldCount];
        var types = new string[result.FieldCount];
        for (var i = 0; i < names.Length; i++)
        {
            names[i] = result.GetName(i);
            types[i] = result.GetDataTypeName(i);
        }
        return (names, types);
    }

    public async ValueTask<SourceRow?> ReadAsync(CancellationToken cancellationToken)
    {
        try
        {
            if (!keysChecked)
                await CheckKeysAsync(cancellationToken).ConfigureAwait(false);
            while (!exhausted)
            {
                if (page is null)
                    await OpenPageAsync(cancellationToken).ConfigureAwait(false);
                if (await page!.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    pageRows++;
                    return Row();
                }
                // A short page is the last one; a full one may be followed by more.
                exhausted = pageRows < pageSize;
                await ClosePageAsync().ConfigureAwait(false);
            }
            return null;
        }
        catch (DbException ex)
        {
            throw new SourceException(Origin, line + 1, "database", $"reading {Origin} failed: {ex.Message}", ex);
        }
    }

    /// <summary>
    /// A row whose key holds a NULL is never paged to (<c>NULL &gt; x</c> is not true), so it would be
    /// lost without a word: such a source is refused before its first row.
    /// </summary>
    private async Task CheckKeysAsync(CancellationToken cancellationToken)
    {
        await using var check = connection.CreateCommand();
        check.CommandText = query.NullKeyCheck;
        var found = Convert.ToInt32(await check.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
        if (found != 0)
            throw new SourceException(Origin, 0, "key",
                $"some rows of {Origin} have a NULL key ({string.Join(", ", keyOrdinals.Select(i => columns[i]))}); rows are read in key order, so the key must never be NULL");
        keysChecked = true;
    }

    private async Task OpenPageAsync(CancellationToken cancellationToken)
    {
        page = await dialect.OpenPageAsync(connection, dialect.Page(query, lastKey is not null, pageSize), lastKey, cancellationToken).ConfigureAwait(false);
        pageRows = 0;
    }

    private async ValueTask ClosePageAsync()
    {
        if (page is not null)
            await page.DisposeAsync().ConfigureAwait(false);
        page = null;
    }

    private SourceRow Row()
    {
        var r = page!;
        var key = new object[keyOrdinals.Length];
        for (var k = 0; k < key.Length; k++)
        {
            key[k] = r.GetKey(keyOrdinals[k]);
            if (key[k] is DBNull)
                throw new SourceException(Origin, line + 1, "key", $"key column '{columns[keyOrdinals[k]]}' is NULL");
        }
        // A key shared by two rows would lose rows wherever a page ends between them.
        if (lastKey is not null && StructuralComparisons.StructuralEqualityComparer.Equals(lastKey, key))
            throw new SourceException(Origin, line + 1, "key",
                $"key {new KeyCursor(line + 1, key).KeyText} is the key of the row before it too; the key must identify one row (a primary key or a unique index)");
        line++;
        var values = new string?[columns.Length];
        RowProblem? problem = null;
        // An integer or a text the column renders as it is becomes its text without a boxed value in between.
        r.GetTexts(plain, repeated, values, got);
        for (var i = 0; i < values.Length; i++)
        {
            if (got[i])
                continue;
            object? value;
            try
            {
                // One call a value: asking IsDBNull first made the driver find each value's type twice.
                value = r.GetValue(i);
                if (value is DBNull)
                    value = null;
            }
            catch (Exception ex) when (ex is InvalidCastException or OverflowException)
            {
                problem ??= new RowProblem(columns[i], "type", $"the driver cannot read this value ({ex.Message}); select the column as text in a 'query'");
                continue;
            }
            values[i] = DbValueText.Render(value, texts[i], ref problem);
        }
        lastKey = key;
        return new SourceRow(line, values, problem, key);
    }

    public async Task<bool> SeekAfterLineAsync(long line, CancellationToken cancellationToken)
    {
        if (line <= 0)
            return true;
        try
        {
            await using var find = connection.CreateCommand();
            find.CommandText = dialect.KeyAt(query, line - 1);
            await using var result = await find.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            if (!await result.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                await ClosePageAsync().ConfigureAwait(false);
                exhausted = true;
                return false;
            }
            var key = new object[result.FieldCount];
            result.GetValues(key);
            StartAfter(new KeyCursor(line, key));
            return true;
        }
        catch (DbException ex)
        {
            throw new SourceException(Origin, line, "database", $"finding row {line} of {Origin} failed: {ex.Message}", ex);
        }
    }

    public void StartAfter(KeyCursor cursor)
    {
        if (cursor.Key.Count != keyOrdinals.Length)
            throw new ArgumentException($"the cursor has {cursor.Key.Count} key values; the key of {Origin} has {keyOrdinals.Length}", nameof(cursor));
        if (page is not null)
            throw new InvalidOperationException("StartAfter must come before the first read");
        lastKey = [.. cursor.Key];
        line = cursor.Line;
        exhausted = false;
    }

    public async ValueTask DisposeAsync()
    {
        await ClosePageAsync().ConfigureAwait(false);
        await connection.DisposeAsync().ConfigureAwait(false);
    }
}

using Ferry.Manifest;
using Ferry.Sources;
using Ferry.Sources.Database;

namespace Ferry.Tests.Sources;

/// <summary>
/// Keyset pagination against real databases: every row once, in key order, numbered 1, 2, 3 …,
/// whatever the page size, for composite keys whose values run into each other when concatenated.
/// </summary>
public class KeysetPaginationTests
{
    // ('a','b') and ('ab','') would be one key if the parts were glued together; so would ('','ab') and ('a','b').
    private const string Pairs = """
        CREATE TABLE pairs (k1 VARCHAR(10) NOT NULL, k2 VARCHAR(10) NOT NULL, n INTEGER, PRIMARY KEY (k1, k2));
        INSERT INTO pairs VALUES ('a', 'b', 1), ('ab', '', 2), ('a', '', 3), ('', 'ab', 4), ('b', 'a', 5), ('a', 'bb', 6), ('', '', 7)
        """;

    private static readonly string[] PairOrder = ["|", "|ab", "a|", "a|b", "a|bb", "ab|", "b|a"];

    private static string Entity(string from, int batchSize) => $$"""
        - name: e
          from: {{from}}
          mode: insert
          batch_size: {{batchSize}}
          columns: { n: n }
        """;

    internal static async Task<List<SourceRow>> ReadAllAsync(ISourceReader reader)
    {
        var rows = new List<SourceRow>();
        while (await reader.ReadAsync(CancellationToken.None) is { } row)
            rows.Add(row);
        return rows;
    }

    private static Task<DatabaseSourceReader> OpenAsync(MigrationManifest manifest) =>
        DatabaseSourceReader.OpenAsync(manifest, manifest.Entities[0], CancellationToken.None);

    [Theory]
    [MemberData(nameof(LegacyDatabase.Kinds), MemberType = typeof(LegacyDatabase))]
    public async Task Composite_keys_are_read_in_key_order_once_each_at_every_page_size(string kind)
    {
        using var db = new LegacyDatabase(kind);
        db.Execute(Pairs);
        for (var size = 1; size <= 8; size++)
        {
            await using var reader = await OpenAsync(db.Manifest(Entity("{ table: pairs, key: [k1, k2] }", size)));
            var rows = await ReadAllAsync(reader);

            Assert.Equal(["k1", "k2", "n"], reader.Columns);
            Assert.Equal(PairOrder, rows.Select(r => $"{r.Values[0]}|{r.Values[1]}"));
            Assert.Equal(Enumerable.Range(1, 7).Select(i => (long)i), rows.Select(r => r.Line));
            Assert.All(rows, r => Assert.Equal(r.Line, r.Cursor!.Line));
            Assert.All(rows, r => Assert.Equal([r.Values[0]!, r.Values[1]!], r.Cursor!.Key));
            Assert.All(rows, r => Assert.Null(r.Problem));
        }
    }

    [Theory]
    [MemberData(nameof(LegacyDatabase.Kinds), MemberType = typeof(LegacyDatabase))]
    public async Task Pages_that_end_exactly_at_the_last_row_and_an_empty_table(string kind)
    {
        using var db = new LegacyDatabase(kind);
        db.Execute("""
            CREATE TABLE six (id INTEGER NOT NULL PRIMARY KEY, n INTEGER);
            INSERT INTO six VALUES (6, 60), (2, 20), (4, 40), (1, 10), (5, 50), (3, 30);
            CREATE TABLE none (id INTEGER NOT NULL PRIMARY KEY, n INTEGER)
            """);
        foreach (var size in new[] { 1, 2, 3, 6, 7 })
        {
            await using var reader = await OpenAsync(db.Manifest(Entity("{ table: six, key: id }", size)));
            var rows = await ReadAllAsync(reader);
            Assert.Equal(["10", "20", "30", "40", "50", "60"], rows.Select(r => r.Values[1]));
            Assert.Equal([1L, 2, 3, 4, 5, 6], rows.Select(r => r.Line));
            Assert.Null(await reader.ReadAsync(CancellationToken.None)); // and it stays at the end
        }
        await using (var empty = await OpenAsync(db.Manifest(Entity("{ table: none, key: [id] }", 3))))
            Assert.Empty(await ReadAllAsync(empty));
    }

    [Theory]
    [MemberData(nameof(LegacyDatabase.Kinds), MemberType = typeof(LegacyDatabase))]
    public async Task Reading_starts_after_a_cursor_or_after_a_line_without_the_rows_before(string kind)
    {
        using var db = new LegacyDatabase(kind);
        db.Execute(Pairs);
        var manifest = db.Manifest(Entity("{ table: pairs, key: [k1, k2] }", 2));
        List<SourceRow> all;
        await using (var reader = await OpenAsync(manifest))
            all = await ReadAllAsync(reader);

        // A stored cursor: no look-up.
        await using (var reader = await OpenAsync(manifest))
        {
            reader.StartAfter(all[2].Cursor!);
            var rest = await ReadAllAsync(reader);
            Assert.Equal(all.Skip(3).Select(r => r.Cursor!.ToString()), rest.Select(r => r.Cursor!.ToString()));
            Assert.Equal([4L, 5, 6, 7], rest.Select(r => r.Line));
        }
        // A committed line (what the ledger keeps): its key is found by position.
        await using (var reader = await OpenAsync(manifest))
        {
            Assert.True(await reader.SeekAfterLineAsync(3, CancellationToken.None));
            var rest = await ReadAllAsync(reader);
            Assert.Equal(["a|b", "a|bb", "ab|", "b|a"], rest.Select(r => $"{r.Values[0]}|{r.Values[1]}"));
            Assert.Equal([4L, 5, 6, 7], rest.Select(r => r.Line));
        }
        await using (var reader = await OpenAsync(manifest))
        {
            Assert.True(await reader.SeekAfterLineAsync(7, CancellationToken.None));
            Assert.Empty(await ReadAllAsync(reader));
        }
        await using (var reader = await OpenAsync(manifest))
        {
            Assert.False(await reader.SeekAfterLineAsync(8, CancellationToken.None));
            Assert.Empty(await ReadAllAsync(reader));
        }
    }

    [Theory]
    [MemberData(nameof(LegacyDatabase.Kinds), MemberType = typeof(LegacyDatabase))]
    public async Task A_query_source_is_paged_in_the_order_of_its_key(string kind)
    {
        using var db = new LegacyDatabase(kind);
        db.Execute("""
            CREATE TABLE schools (id INTEGER NOT NULL PRIMARY KEY, name VARCHAR(20) NOT NULL);
            CREATE TABLE students (id INTEGER NOT NULL PRIMARY KEY, school_id INTEGER NOT NULL, name VARCHAR(20) NOT NULL);
            INSERT INTO schools VALUES (1, 'North'), (2, 'South');
            INSERT INTO students VALUES (5, 2, 'Eve'), (1, 1, 'Ann'), (4, 1, 'Dan'), (2, 2, 'Bob'), (3, 1, 'Cat')
            """);
        var query = """
            query: |
                SELECT st.id AS student_id, st.name, sc.name AS school
                FROM students st JOIN schools sc ON sc.id = st.school_id
                WHERE st.name <> 'Cat';
            key: [student_id]
            """;
        var manifest = db.Manifest($$"""
            - name: e
              from:
                {{query.Replace("\n", "\n    ", StringComparison.Ordinal)}}
              mode: insert
              batch_size: 2
              columns: { name: name }
            """);
        await using var reader = await OpenAsync(manifest);
        var rows = await ReadAllAsync(reader);

        Assert.Equal(["student_id", "name", "school"], reader.Columns);
        Assert.Equal(["1 Ann North", "2 Bob South", "4 Dan North", "5 Eve South"], rows.Select(r => string.Join(' ', r.Values)));
        Assert.Equal([1L, 2, 3, 4], rows.Select(r => r.Line));
        Assert.Equal($"{kind} query of entity e", reader.Origin);
    }

    [Theory]
    [MemberData(nameof(LegacyDatabase.Kinds), MemberType = typeof(LegacyDatabase))]
    public async Task A_key_with_nulls_or_repeats_is_refused_rather_than_rows_lost(string kind)
    {
        using var db = new LegacyDatabase(kind);
        db.Execute("""
            CREATE TABLE holes (id INTEGER, n INTEGER);
            INSERT INTO holes VALUES (1, 1), (NULL, 2), (3, 3);
            CREATE TABLE twins (id INTEGER, n INTEGER);
            INSERT INTO twins VALUES (1, 1), (2, 2), (2, 3), (4, 4)
            """);
        await using (var reader = await OpenAsync(db.Manifest(Entity("{ table: holes, key: [id] }", 10))))
        {
            var ex = await Assert.ThrowsAsync<SourceException>(() => ReadAllAsync(reader));
            Assert.Equal("key", ex.Rule);
            Assert.Contains("NULL key (id)", ex.Message, StringComparison.Ordinal);
        }
        await using (var reader = await OpenAsync(db.Manifest(Entity("{ table: twins, key: [id] }", 10))))
        {
            var ex = await Assert.ThrowsAsync<SourceException>(() => ReadAllAsync(reader));
            Assert.Equal("key", ex.Rule);
            Assert.Equal(3, ex.Line);
            Assert.Contains("key (2) is the key of the row before it too", ex.Message, StringComparison.Ordinal);
        }
    }

    [Theory]
    [MemberData(nameof(LegacyDatabase.Kinds), MemberType = typeof(LegacyDatabase))]
    public async Task Unknown_tables_and_columns_are_named_with_the_manifest_line(string kind)
    {
        using var db = new LegacyDatabase(kind);
        db.Execute(Pairs);
        var ex = await Assert.ThrowsAsync<ManifestException>(() =>
            OpenAsync(db.Manifest(Entity("{ table: pairs, key: [k1, kk], convert: { nn: bool } }", 10))));
        Assert.Equal(2, ex.Errors.Count);
        Assert.All(ex.Errors, e => Assert.Equal(10, e.Line)); // the line of 'from'
        Assert.Contains("'from' names column 'kk', which " + kind + " table pairs does not have (it has: k1, k2, n)", ex.Errors[0].Message, StringComparison.Ordinal);
        Assert.Contains("column 'nn'", ex.Errors[1].Message, StringComparison.Ordinal);

        var missing = await Assert.ThrowsAsync<SourceException>(() => OpenAsync(db.Manifest(Entity("{ table: nowhere, key: [id] }", 10))));
        Assert.Equal("database", missing.Rule);
        Assert.StartsWith($"{kind} table nowhere: cannot read {kind} table nowhere: ", missing.Message, StringComparison.Ordinal);
    }
}

using Ferry.Engine;
using Ferry.Targets.Postgres;
using Npgsql;

namespace Ferry.Tests.Postgres;

/// <summary>A batch's lines and keys, sent as text, come back from a real PostgreSQL server as the exact arrays.</summary>
public class PgBatchArraysTests
{
    private static async Task<(long[]? Lines, string?[]? Keys)> RoundTrip(IReadOnlyList<BatchRow> rows, bool withLines = true)
    {
        var arrays = new BatchArrays();
        await using var connection = new NpgsqlConnection(Pg.ConnectionString);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {BatchArrays.LinesSql}, {BatchArrays.KeysSql}";
        command.Parameters.AddWithValue("lines", withLines ? arrays.Lines(rows) : DBNull.Value);
        foreach (var (name, value) in arrays.Keys(rows))
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        return (reader.IsDBNull(0) ? null : reader.GetFieldValue<long[]>(0), reader.IsDBNull(1) ? null : reader.GetFieldValue<string?[]>(1));
    }

    private static List<BatchRow> Rows(params string?[] keys) =>
        keys.Select((k, i) => new BatchRow(2 + i * 3 + (i > 2 ? 1_000_000_000_000 : 0), []) { Key = k }).ToList();

    [Fact]
    public async Task Plain_keys_with_nulls_quotes_commas_braces_and_non_ASCII_split_back_in_order()
    {
        var rows = Rows("FOI-2024-00001", null, "say \"hi\"", "a,b", "{x}", "back\\slash", "Renée Côté 😀", "", "NULL", " padded ");
        var (lines, keys) = await RoundTrip(rows);
        Assert.Equal(rows.Select(r => r.Line), lines);
        Assert.Equal(rows.Select(r => r.Key), keys);
    }

    [Theory]
    [InlineData("unit\u001Fseparator")]
    [InlineData("record\u001Eseparator")]
    public async Task A_key_holding_a_separator_goes_as_JSON_and_comes_back_whole(string awkward)
    {
        var rows = Rows("A-1", awkward, null, "A-2");
        var (_, keys) = await RoundTrip(rows);
        Assert.Equal(rows.Select(r => r.Key), keys);
    }

    [Fact]
    public async Task A_lone_empty_key_and_a_lone_null_key_stay_one_element_and_no_lines_stay_null()
    {
        Assert.Equal(new string?[] { "" }, (await RoundTrip(Rows(""))).Keys!.AsEnumerable());
        Assert.Equal(new string?[] { null }, (await RoundTrip(Rows([null]))).Keys!.AsEnumerable());
        var (lines, keys) = await RoundTrip(Rows("K"), withLines: false);
        Assert.Null(lines);
        Assert.Equal(new string?[] { "K" }, keys!.AsEnumerable());
    }

    [Fact]
    public async Task Consecutive_lines_go_as_their_first_and_last_and_come_back_every_one()
    {
        var consecutive = Enumerable.Range(0, 10_000).Select(i => new BatchRow(1_000_000_000_001 + i, []) { Key = $"K{i}" }).ToList();
        Assert.Equal("1000000000001-1000000010000", new BatchArrays().Lines(consecutive));
        Assert.Equal(consecutive.Select(r => r.Line), (await RoundTrip(consecutive)).Lines);

        // One gap anywhere, or a single row, goes line by line.
        var gap = consecutive.Where(r => r.Line != 1_000_000_005_000).ToList();
        Assert.Contains(',', new BatchArrays().Lines(gap));
        Assert.Equal(gap.Select(r => r.Line), (await RoundTrip(gap)).Lines);
        var single = (await RoundTrip([new BatchRow(7, []) { Key = "K" }])).Lines;
        Assert.Equal(new long[] { 7 }, single!.AsEnumerable());
    }

    [Theory]
    [InlineData("1|2|1000000")]
    [InlineData("a\u001Fb|plain|{x}|Renée")] // a separator: the JSON form
    [InlineData("")]                         // a lone empty text: the JSON form
    [InlineData("||x")]
    public async Task Key_map_texts_and_uuids_come_back_as_the_exact_arrays(string joined)
    {
        var texts = joined.Split('|');
        var uuids = texts.Select((t, i) => Ferry.Mapping.DeterministicUuid.ForLegacyKey("e", "", t + i)).ToList();
        await using var connection = new NpgsqlConnection(Pg.ConnectionString);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {BatchArrays.TextsSql("legacy_keys")}, string_to_array(@uuids, ',')::uuid[]";
        foreach (var (name, value) in new BatchArrays().Texts("legacy_keys", texts))
            command.Parameters.AddWithValue(name, value!);
        command.Parameters.AddWithValue("uuids", BatchArrays.Uuids(uuids));
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        Assert.Equal(texts, reader.GetFieldValue<string[]>(0));
        Assert.Equal(uuids, reader.GetFieldValue<Guid[]>(1));
    }
}

using System.Text;
using Ferry.Mapping;
using Ferry.Targets.Postgres;
using Npgsql;
using NpgsqlTypes;

namespace Ferry.Tests.Postgres;

/// <summary>
/// Ferry's own binary COPY encoding, against a real server: every value of every column type Ferry
/// creates is stored exactly as Npgsql's parameters store it, and a COPY that does not complete keeps nothing.
/// </summary>
public class PgBinaryCopyTests
{
    private static readonly (string Name, string Sql, NpgsqlDbType Type)[] Columns =
    [
        ("t", "text", NpgsqlDbType.Text), ("b", "bigint", NpgsqlDbType.Bigint), ("n", "numeric", NpgsqlDbType.Numeric),
        ("d", "double precision", NpgsqlDbType.Double), ("f", "boolean", NpgsqlDbType.Boolean), ("day", "date", NpgsqlDbType.Date),
        ("ts", "timestamptz", NpgsqlDbType.TimestampTz), ("u", "uuid", NpgsqlDbType.Uuid),
    ];

    private static readonly object?[][] Values =
    [
        ["", "plain", "Renée Côté 😀", "a,b \"q\" \\ tab\t new\nline", new string('x', 200_000) + "é", "日本語", "NULL"],
        [0L, 1L, -1L, long.MaxValue, long.MinValue, 42L, 1_000_000_000_000L],
        [0m, -0.00m, 1.5m, 12.50m, 0.0001m, 0.00012345m, -1234567.891m, 10000m, 100000000m, 0.0000000000000000000000000001m,
            decimal.MaxValue, decimal.MinValue, 9999.9999m, 123456789012345678.9012345678m, -0.5m, 1m, 20000.000m],
        [0d, -0d, 1.5, -1e-300, double.MaxValue, double.NaN, double.PositiveInfinity, double.NegativeInfinity, double.Epsilon],
        [true, false],
        [new DateOnly(2000, 1, 1), new DateOnly(1999, 12, 31), new DateOnly(1, 1, 2), new DateOnly(9999, 12, 30), DateOnly.MinValue, DateOnly.MaxValue, new DateOnly(2024, 2, 29)],
        [new DateTime(2000, 1, 1, 0, 0, 0, DateTimeKind.Utc), new DateTime(2024, 6, 30, 12, 34, 56, DateTimeKind.Utc).AddTicks(7_890_127),
            new DateTime(1999, 12, 31, 23, 59, 59, DateTimeKind.Utc).AddTicks(9_999_995), DateTime.UnixEpoch, DateTime.MinValue, DateTime.MaxValue,
            new DateTime(1, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddTicks(123)],
        [Guid.Empty, new Guid("6ba7b811-9dad-11d1-80b4-00c04fd430c8"), DeterministicUuid.ForLegacyKey("student", "district-a", "42")],
    ];

    private static async Task<NpgsqlConnection> OpenAsync()
    {
        var connection = new NpgsqlConnection(Pg.ConnectionString);
        await connection.OpenAsync();
        return connection;
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private static async Task<object?> CountAsync(NpgsqlConnection connection, string table)
    {
        await using var count = new NpgsqlCommand($"SELECT count(*) FROM {table}", connection);
        return await count.ExecuteScalarAsync();
    }

    private static Task CreateAsync(NpgsqlConnection connection, string table) => ExecuteAsync(connection,
        $"CREATE TEMP TABLE {table} (ord integer, {string.Join(", ", Columns.Select(c => $"{c.Name} {c.Sql}"))})");

    private static string CopySql(string table) => $"COPY {table} (ord, {string.Join(", ", Columns.Select(c => c.Name))}) FROM STDIN (FORMAT BINARY)";

    private static async Task<List<string>> RowsAsText(NpgsqlConnection connection, string table)
    {
        // Each column's text: numeric keeps its display scale there, timestamps their microseconds.
        await ExecuteAsync(connection, "SET timezone = 'UTC'");
        await using var command = new NpgsqlCommand(
            $"SELECT ord::text || '|' || {string.Join(" || '|' || ", Columns.Select(c => $"coalesce({c.Name}::text, '<null>')"))} FROM {table} ORDER BY ord", connection);
        var rows = new List<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
            rows.Add(reader.GetString(0));
        return rows;
    }

    [Fact]
    public async Task Every_value_of_every_column_type_is_stored_as_Npgsql_parameters_store_it()
    {
        await using var connection = await OpenAsync();
        await CreateAsync(connection, "by_ferry");
        await CreateAsync(connection, "by_npgsql");
        var count = Values.Max(v => v.Length) + 1; // the last row is all NULLs
        object? Value(int row, int column) => row == count - 1 ? null : Values[column][row % Values[column].Length];

        await using (var copy = await BinaryCopyWriter.BeginAsync(connection, CopySql("by_ferry"), default))
        {
            for (var row = 0; row < count; row++)
            {
                copy.StartRow(Columns.Length + 1);
                copy.WriteInteger(row);
                for (var c = 0; c < Columns.Length; c++)
                    copy.Write(Value(row, c), Columns[c].Type);
            }
            await copy.CompleteAsync(default);
        }
        for (var row = 0; row < count; row++)
        {
            await using var insert = new NpgsqlCommand(
                $"INSERT INTO by_npgsql VALUES (@ord, {string.Join(", ", Columns.Select(c => "@" + c.Name))})", connection);
            insert.Parameters.AddWithValue("ord", row);
            for (var c = 0; c < Columns.Length; c++)
                insert.Parameters.Add(new NpgsqlParameter(Columns[c].Name, Columns[c].Type) { Value = Value(row, c) ?? DBNull.Value });
            await insert.ExecuteNonQueryAsync();
        }

        var ferry = await RowsAsText(connection, "by_ferry");
        var npgsql = await RowsAsText(connection, "by_npgsql");
        Assert.Equal(count, ferry.Count);
        Assert.Equal(npgsql, ferry);
        // A few spelled out, so that a shared mistake would show too.
        Assert.Contains("|12.50|", ferry[3]);
        Assert.Contains("|0.0000000000000000000000000001|", ferry[9]);
        Assert.Contains("|-79228162514264337593543950335|", ferry[11]);
        Assert.Contains("|Renée Côté 😀|", ferry[2]);
        Assert.Contains("|infinity|", ferry[5]);
        Assert.Contains("|2024-06-30 12:34:56.789012+00|", ferry[1]);
        Assert.EndsWith(string.Concat(Enumerable.Repeat("|<null>", Columns.Length)), ferry[^1]);
    }

    [Fact]
    public async Task A_time_of_unknown_kind_is_stored_as_UTC_and_a_local_one_converted()
    {
        await using var connection = await OpenAsync();
        await ExecuteAsync(connection, "CREATE TEMP TABLE times (ord integer, ts timestamptz)");
        var instant = new DateTime(2024, 1, 2, 3, 4, 5, DateTimeKind.Utc);
        await using (var copy = await BinaryCopyWriter.BeginAsync(connection, "COPY times (ord, ts) FROM STDIN (FORMAT BINARY)", default))
        {
            copy.StartRow(2);
            copy.WriteInteger(0);
            copy.Write(DateTime.SpecifyKind(instant, DateTimeKind.Unspecified), NpgsqlDbType.TimestampTz);
            copy.StartRow(2);
            copy.WriteInteger(1);
            copy.Write(instant.ToLocalTime(), NpgsqlDbType.TimestampTz);
            await copy.CompleteAsync(default);
        }
        await using var read = new NpgsqlCommand("SELECT ts FROM times ORDER BY ord", connection);
        await using var reader = await read.ExecuteReaderAsync();
        for (var i = 0; i < 2; i++)
        {
            Assert.True(await reader.ReadAsync());
            Assert.Equal(instant, reader.GetFieldValue<DateTime>(0));
        }
    }

    [Fact]
    public async Task A_copy_left_without_completing_keeps_nothing_and_the_connection_goes_on()
    {
        await using var connection = await OpenAsync();
        await ExecuteAsync(connection, "CREATE TEMP TABLE left_open (t text)");
        await using (var copy = await BinaryCopyWriter.BeginAsync(connection, "COPY left_open (t) FROM STDIN (FORMAT BINARY)", default))
        {
            for (var i = 0; i < 50_000; i++) // more than one buffer: some rows reached the server already
            {
                copy.StartRow(1);
                copy.Write($"row {i}", NpgsqlDbType.Text);
            }
        }
        Assert.Equal(0L, await CountAsync(connection, "left_open"));
    }

    [Fact]
    public async Task A_value_that_cannot_be_encoded_fails_and_keeps_nothing()
    {
        await using var connection = await OpenAsync();
        await ExecuteAsync(connection, "CREATE TEMP TABLE refused (t text, b bigint)");
        foreach (var (value, type) in new (object, NpgsqlDbType)[] { ("lone \uD800 surrogate", NpgsqlDbType.Text), ("12", NpgsqlDbType.Bigint) })
        {
            var error = await Assert.ThrowsAnyAsync<Exception>(async () =>
            {
                await using var copy = await BinaryCopyWriter.BeginAsync(connection, "COPY refused (t, b) FROM STDIN (FORMAT BINARY)", default);
                copy.StartRow(2);
                copy.Write("fine", NpgsqlDbType.Text);
                copy.Write(1L, NpgsqlDbType.Bigint);
                copy.StartRow(2);
                copy.Write(type == NpgsqlDbType.Text ? value : "fine", NpgsqlDbType.Text);
                copy.Write(type == NpgsqlDbType.Bigint ? value : 2L, NpgsqlDbType.Bigint);
                await copy.CompleteAsync(default);
            });
            Assert.True(error is EncoderFallbackException or InvalidCastException, error.ToString());
        }
        Assert.Equal(0L, await CountAsync(connection, "refused"));
    }

    [Fact]
    public async Task A_value_the_server_refuses_fails_at_completion_with_its_error_and_keeps_nothing()
    {
        await using var connection = await OpenAsync();
        await ExecuteAsync(connection, "CREATE TEMP TABLE nul (t text)");
        var error = await Assert.ThrowsAsync<PostgresException>(async () =>
        {
            await using var copy = await BinaryCopyWriter.BeginAsync(connection, "COPY nul (t) FROM STDIN (FORMAT BINARY)", default);
            copy.StartRow(1);
            copy.Write("fine", NpgsqlDbType.Text);
            copy.StartRow(1);
            copy.Write("nul \0 inside", NpgsqlDbType.Text);
            await copy.CompleteAsync(default);
        });
        Assert.Equal("22021", error.SqlState);
        Assert.Equal(0L, await CountAsync(connection, "nul"));
    }
}

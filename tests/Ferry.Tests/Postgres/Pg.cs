using System.Globalization;
using System.Text.Json;
using Npgsql;

namespace Ferry.Tests.Postgres;

/// <summary>
/// The PostgreSQL server the tests run against: the one <c>scripts/test.sh</c> starts and names in
/// <c>FERRY_TEST_PG</c>. Without it these tests fail (never skip): a green suite must mean
/// PostgreSQL was tested.
/// </summary>
internal static class Pg
{
    public const string Variable = "FERRY_TEST_PG";

    /// <summary>The first key of Ferry's run lock (<c>pg_advisory_lock(class, hashtext(manifest path))</c>).</summary>
    public const int RunLockClass = 1181053561;

    private static readonly Lazy<(string? ConnectionString, string? Problem)> Server = new(Probe);

    /// <summary>The connection string of the test server; fails the test, saying how to get one, when there is none.</summary>
    public static string ConnectionString
    {
        get
        {
            var (connectionString, problem) = Server.Value;
            if (problem is not null)
                Assert.Fail(problem);
            return connectionString!;
        }
    }

    private static (string?, string?) Probe()
    {
        var value = Environment.GetEnvironmentVariable(Variable);
        if (string.IsNullOrWhiteSpace(value))
            return (null, $"{Variable} is not set, so there is no PostgreSQL server to test against. Run the tests with scripts/test.sh, " +
                "which starts a private PostgreSQL on 127.0.0.1 and exports it (or source scripts/services.sh and call start_postgres).");
        try
        {
            using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(value) { Timeout = 10, Pooling = false }.ConnectionString);
            connection.Open();
            return (value, null);
        }
        catch (Exception ex) when (ex is NpgsqlException or ArgumentException or TimeoutException)
        {
            var builder = new NpgsqlConnectionStringBuilder();
            try
            {
                builder.ConnectionString = value;
            }
            catch (ArgumentException)
            {
                // Described below as far as it can be.
            }
            return (null, $"the PostgreSQL server named by {Variable} ({builder.Host}:{builder.Port}/{builder.Database}) is unreachable: {ex.Message}. " +
                "Run the tests with scripts/test.sh, which starts a private PostgreSQL on 127.0.0.1 and exports FERRY_TEST_PG.");
        }
    }

    public static NpgsqlConnectionStringBuilder Builder() => new(ConnectionString);

    /// <summary>The test's own connection: its application name keeps it apart from ferry's sessions.</summary>
    public static NpgsqlConnection Open()
    {
        var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(ConnectionString) { ApplicationName = "ferry-tests", Pooling = false }.ConnectionString);
        connection.Open();
        return connection;
    }

    public static List<Dictionary<string, object?>> Query(string sql, params (string Name, object Value)[] parameters)
    {
        using var connection = Open();
        using var command = new NpgsqlCommand(sql, connection);
        foreach (var (name, value) in parameters)
            command.Parameters.AddWithValue(name, value);
        using var reader = command.ExecuteReader();
        var rows = new List<Dictionary<string, object?>>();
        while (reader.Read())
        {
            var row = new Dictionary<string, object?>(StringComparer.Ordinal);
            for (var i = 0; i < reader.FieldCount; i++)
                row[reader.GetName(i)] = reader.IsDBNull(i) ? null : reader.GetValue(i);
            rows.Add(row);
        }
        return rows;
    }

    public static object? Scalar(string sql, params (string Name, object Value)[] parameters) =>
        Query(sql, parameters).FirstOrDefault()?.Values.FirstOrDefault();

    public static long Count(string sql, params (string Name, object Value)[] parameters) =>
        Convert.ToInt64(Scalar(sql, parameters), CultureInfo.InvariantCulture);

    public static int Execute(string sql, params (string Name, object Value)[] parameters)
    {
        using var connection = Open();
        using var command = new NpgsqlCommand(sql, connection);
        foreach (var (name, value) in parameters)
            command.Parameters.AddWithValue(name, value);
        return command.ExecuteNonQuery();
    }

    /// <summary>
    /// Every row of a table, every column, as JSON text (PostgreSQL's own rendering of each value and
    /// its type), in the order of <paramref name="orderBy"/>: two dumps are equal only when the
    /// tables are equal row for row.
    /// </summary>
    public static List<string> Dump(string schema, string table, string orderBy = "reference") =>
        Query($"SELECT row_to_json(t)::text AS r FROM \"{schema}\".\"{table}\" t ORDER BY {orderBy}").Select(r => (string)r["r"]!).ToList();

    public static bool TableExists(string qualified) => (bool)Scalar("SELECT to_regclass(@t) IS NOT NULL", ("t", qualified))!;

    /// <summary>The runs the ledger holds for one manifest (by its full path), oldest first; none before the first run made the ledger.</summary>
    public static List<LedgerRun> Runs(string manifestPath) => !TableExists("ferry.runs") ? [] :
        Query("SELECT run_id, status, error, pid FROM ferry.runs WHERE manifest = @m ORDER BY run_id", ("m", Path.GetFullPath(manifestPath)))
            .Select(r => new LedgerRun((long)r["run_id"]!, (string)r["status"]!, (string?)r["error"], (int?)r["pid"]))
            .ToList();

    public static LedgerCounts Counts(long runId, string entity = "foi_request")
    {
        var r = Assert.Single(Query("SELECT rows_read, inserted, updated, unchanged, rejected, warnings FROM ferry.run_entities WHERE run_id = @run AND entity = @entity",
            ("run", runId), ("entity", entity)));
        return new LedgerCounts((long)r["rows_read"]!, (long)r["inserted"]!, (long)r["updated"]!, (long)r["unchanged"]!, (long)r["rejected"]!, (long)r["warnings"]!);
    }

    /// <summary>The sums of a run's committed batches (what a resume counts from).</summary>
    public static LedgerCounts BatchTotals(long runId, string entity = "foi_request")
    {
        var r = Assert.Single(Query("""
            SELECT coalesce(sum(rows_read), 0) AS rows_read, coalesce(sum(inserted), 0) AS inserted, coalesce(sum(updated), 0) AS updated,
                   coalesce(sum(unchanged), 0) AS unchanged, coalesce(sum(rejected), 0) AS rejected, coalesce(sum(warnings), 0) AS warnings
            FROM ferry.batches WHERE run_id = @run AND entity = @entity
            """, ("run", runId), ("entity", entity)));
        return new LedgerCounts(Convert.ToInt64(r["rows_read"], CultureInfo.InvariantCulture), Convert.ToInt64(r["inserted"], CultureInfo.InvariantCulture),
            Convert.ToInt64(r["updated"], CultureInfo.InvariantCulture), Convert.ToInt64(r["unchanged"], CultureInfo.InvariantCulture),
            Convert.ToInt64(r["rejected"], CultureInfo.InvariantCulture), Convert.ToInt64(r["warnings"], CultureInfo.InvariantCulture));
    }

    /// <summary>A run's staging rows (ferry."stage_&lt;entity&gt;"), in line order.</summary>
    public static List<PgStageRow> Stage(long runId, string entity = "foi_request") =>
        Query($"""
            SELECT stage_id, line, business_key, status, raw::text AS raw, errors::text AS errors, resolved_by_run
            FROM ferry."stage_{entity}" WHERE run_id = @run ORDER BY line, stage_id
            """, ("run", runId))
            .Select(r => new PgStageRow((long)r["stage_id"]!, (long)r["line"]!, (string?)r["business_key"], (string)r["status"]!,
                (string?)r["raw"], (string?)r["errors"], (long?)r["resolved_by_run"]))
            .ToList();

    /// <summary>(column, rule, message) of every issue in a staging row's errors JSON.</summary>
    public static List<(string? Column, string Rule, string Message)> Issues(string? json) =>
        json is null ? [] : JsonDocument.Parse(json).RootElement.EnumerateArray()
            .Select(e => (e.GetProperty("column").GetString(), e.GetProperty("rule").GetString()!, e.GetProperty("message").GetString()!)).ToList();
}

internal sealed record LedgerRun(long RunId, string Status, string? Error, int? Pid);

internal sealed record LedgerCounts(long RowsRead, long Inserted, long Updated, long Unchanged, long Rejected, long Warnings);

internal sealed record PgStageRow(long StageId, long Line, string? BusinessKey, string Status, string? Raw, string? Errors, long? ResolvedByRun);

/// <summary>
/// One test's corner of the server: a workspace (so its own manifest path, which keys its runs in
/// the ledger) and a schema of its own with a random name, dropped at the end.
/// </summary>
internal sealed class PgScope : IDisposable
{
    public PgScope(string prefix = "t")
    {
        _ = Pg.ConnectionString; // fail at once, clearly, without a server
        Workspace = new Support.Workspace();
        Schema = $"{prefix}_{Guid.NewGuid():N}"[..Math.Min(prefix.Length + 1 + 16, 40)];
    }

    public Support.Workspace Workspace { get; }

    public string Schema { get; }

    public string Manifest(string relative = "ferry.yaml") => Workspace.PathOf(relative);

    public List<string> Dump(string table = "foi_request", string orderBy = "reference") => Pg.Dump(Schema, table, orderBy);

    public long Count(string table = "foi_request") => Pg.Count($"SELECT count(*) FROM \"{Schema}\".\"{table}\"");

    public void Dispose()
    {
        try
        {
            Pg.Execute($"DROP SCHEMA IF EXISTS \"{Schema}\" CASCADE");
        }
        catch (NpgsqlException)
        {
            // A schema left behind on a throw-away test server is not worth failing for.
        }
        Workspace.Dispose();
    }
}

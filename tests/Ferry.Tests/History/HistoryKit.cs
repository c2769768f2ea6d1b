using System.Globalization;
using System.Text;
using Ferry.Tests.Postgres;
using Ferry.Tests.Support;
using Microsoft.Data.Sqlite;

namespace Ferry.Tests.History;

/// <summary>One citizen row of a monthly file.</summary>
internal sealed record Citizen(int Id, string Name, string City, string Phone);

/// <summary>
/// A history table on a real target, SQLite (a file in the workspace) or PostgreSQL (a schema of its
/// own): the manifest of scenario 4, monthly files, and SQL over what the table holds.
/// </summary>
internal sealed class HistoryTarget : IDisposable
{
    private readonly PgScope? pg;

    public HistoryTarget(string kind)
    {
        Kind = kind;
        if (kind == "postgres")
        {
            pg = new PgScope("hist");
            Workspace = pg.Workspace;
        }
        else
            Workspace = new Workspace();
    }

    public string Kind { get; }

    public Workspace Workspace { get; }

    public bool Postgres => pg is not null;

    /// <summary>The history table, qualified as SQL names it.</summary>
    public string Table => Postgres ? $"\"{pg!.Schema}\".citizen_history" : "citizen_history";

    /// <summary>The ledger table <paramref name="name"/> (<c>history_changes</c> …) as SQL names it on this target.</summary>
    public string Ledger(string name) => Postgres ? "ferry." + name : "ferry_" + name;

    public void WriteManifest(string missing = "ignore", int batchSize = 3, string tracked = "[name, city]")
    {
        var target = Postgres
            ? $"{{ type: postgres, connection: \"${{{Pg.Variable}}}\", schema: {pg!.Schema} }}"
            : "{ type: sqlite, connection: \"Data Source=h.db\" }";
        Workspace.Write("ferry.yaml", $"""
            source: {"{"} type: csv, path: data/citizens.csv {"}"}
            target: {target}
            entities:
              - name: citizen
                table: citizen_history
                key: [citizen_id]
                mode: scd2
                batch_size: {batchSize}
                scd2:
                  tracked: {tracked}
                  missing: {missing}
                columns:
                  citizen_id: {"{"} from: id, type: int {"}"}
                  name: name
                  city: city
                  phone: phone
            """);
    }

    public void WriteFile(IEnumerable<Citizen> citizens)
    {
        var text = new StringBuilder("id,name,city,phone\n");
        foreach (var c in citizens)
            text.Append(CultureInfo.InvariantCulture, $"{c.Id},{c.Name},{c.City},{c.Phone}\n");
        Workspace.Write("data/citizens.csv", text.ToString());
    }

    /// <summary>Loads the file as of a date: in-process, or in a process of its own with a fault armed.</summary>
    public Task<CliResult> Load(string? asOf, params string[] more) =>
        Workspace.Ferry([.. Args(asOf), .. more]);

    public Task<CliResult> LoadInProcessOfItsOwn(string? asOf, string? fault) =>
        FerryProcess.RunAsync(Workspace, new Dictionary<string, string?> { [Ferry.Diagnostics.FaultInjection.Variable] = fault }, Args(asOf));

    private static string[] Args(string? asOf) => asOf is null
        ? ["run", "ferry.yaml", "--no-reconcile"]
        : ["run", "ferry.yaml", "--no-reconcile", "--as-of", asOf];

    /// <summary>Rolls back the <paramref name="nth"/> run (1-based) of this manifest.</summary>
    public Task<CliResult> Rollback(int nth) => Workspace.Ferry("rollback", RunId(nth).ToString(CultureInfo.InvariantCulture), "ferry.yaml");

    /// <summary>The id of the <paramref name="nth"/> run (1-based) of this manifest: a PostgreSQL ledger holds every test's runs.</summary>
    public long RunId(int nth) => Runs()[nth - 1].Run;

    public List<Dictionary<string, object?>> Query(string sql)
    {
        sql = sql.Replace("{t}", Table, StringComparison.Ordinal);
        return Postgres ? Pg.Query(sql) : Workspace.Query("h.db", sql);
    }

    public long Count(string sql) => Convert.ToInt64(Query(sql)[0].Values.First(), CultureInfo.InvariantCulture);

    /// <summary>Runs a statement against the target directly (not through ferry).</summary>
    public void Execute(string sql)
    {
        sql = sql.Replace("{t}", Table, StringComparison.Ordinal);
        if (Postgres)
        {
            Pg.Execute(sql);
            return;
        }
        using var connection = new SqliteConnection($"Data Source={Workspace.PathOf("h.db")};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    /// <summary>
    /// Every row and column of the history table as text, in key and time order: two dumps are equal only
    /// when the tables are. Without <paramref name="versionIds"/> the surrogate ids are left out (a
    /// PostgreSQL identity does not give back the numbers of a rolled-back transaction).
    /// </summary>
    public List<string> Dump(bool versionIds = true) => !Exists() ? [] :
        Query("SELECT * FROM {t} ORDER BY citizen_id, valid_from, version_id")
            .Select(r => string.Join(" | ", r.Where(p => versionIds || p.Key != "version_id")
                .Select(p => $"{p.Key}={Text(p.Value)}")))
            .ToList();

    /// <summary>Whether the history table has been created.</summary>
    public bool Exists() => Postgres
        ? Pg.TableExists(Table)
        : File.Exists(Workspace.PathOf("h.db")) && Count("SELECT count(*) FROM sqlite_master WHERE name = 'citizen_history'") > 0;

    /// <summary>A stored value as text: booleans as 0/1 and times as UTC text, so that both targets read alike.</summary>
    public static string Text(object? value) => value switch
    {
        null => "NULL",
        bool b => b ? "1" : "0",
        DateTime d => d.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture),
        _ => Convert.ToString(value, CultureInfo.InvariantCulture)!,
    };

    /// <summary>The versions of one key, oldest first, as "name/city/phone from..to current".</summary>
    public List<string> Versions(int id) =>
        Query($"SELECT name, city, phone, valid_from, valid_to, is_current FROM {{t}} WHERE citizen_id = {id} ORDER BY valid_from, version_id")
            .Select(r => $"{r["name"]}/{r["city"]}/{r["phone"]} {Text(r["valid_from"])}..{Text(r["valid_to"])}{(Text(r["is_current"]) == "1" ? " current" : "")}")
            .ToList();

    /// <summary>
    /// The history's invariants, checked by SQL: at most one current version per key, a current version
    /// open-ended and a closed one ending after it began, and no two versions of a key overlapping.
    /// </summary>
    public void AssertConsistent()
    {
        Assert.Empty(Query("SELECT citizen_id FROM {t} WHERE is_current GROUP BY citizen_id HAVING count(*) > 1"));
        Assert.Equal(0, Count("SELECT count(*) FROM {t} WHERE (is_current AND valid_to IS NOT NULL) OR (NOT is_current AND (valid_to IS NULL OR valid_to < valid_from))"));
        var end = Postgres ? "'infinity'::timestamptz" : "'9999'";
        Assert.Equal(0, Count("""
            SELECT count(*) FROM {t} a JOIN {t} b ON a.citizen_id = b.citizen_id AND a.version_id <> b.version_id
            WHERE a.valid_from < coalesce(b.valid_to, END) AND b.valid_from < coalesce(a.valid_to, END)
            """.Replace("END", end, StringComparison.Ordinal)));
    }

    /// <summary>The runs of the manifest, oldest first, with their status.</summary>
    public List<(long Run, string Status)> Runs() =>
        Query($"SELECT run_id, status FROM {Ledger("runs")} WHERE manifest = '{Workspace.PathOf("ferry.yaml").Replace("'", "''", StringComparison.Ordinal)}' ORDER BY run_id")
            .Select(r => (Convert.ToInt64(r["run_id"], CultureInfo.InvariantCulture), (string)r["status"]!)).ToList();

    /// <summary>Counts of the <paramref name="nth"/> run of this manifest: read, inserted, updated, unchanged, rejected.</summary>
    public string Counts(int nth) =>
        string.Join(" ", Query($"SELECT rows_read, inserted, updated, unchanged, rejected FROM {Ledger("run_entities")} WHERE run_id = {RunId(nth)}")[0].Values.Select(Text));

    public void Dispose()
    {
        if (pg is not null)
            pg.Dispose();
        else
            Workspace.Dispose();
    }
}

using System.Globalization;
using Ferry.Tests.Postgres;
using Ferry.Tests.Sources;
using Ferry.Tests.Support;
using Microsoft.Data.Sqlite;
using MySqlConnector;

namespace Ferry.Tests.Tenants;

/// <summary>
/// Three districts' legacy databases for the consolidation tests: <c>north</c> and <c>south</c> are
/// SQLite files, <c>river</c> a MariaDB database. Each has schools and students numbered from 1, so
/// the same legacy keys occur in every tenant. The target is PostgreSQL (its own schema) or SQLite.
/// </summary>
internal sealed class TenantKit : IDisposable
{
    public static readonly string[] Tenants = ["north", "south", "river"];
    private readonly string riverDatabase = $"river_{Guid.NewGuid():N}"[..22];
    private readonly bool postgres;

    public TenantKit(bool postgres = true, int schools = 4, int students = 23)
    {
        this.postgres = postgres;
        Workspace = new Workspace();
        Schema = $"tn_{Guid.NewGuid():N}"[..20];
        if (postgres)
            _ = Pg.ConnectionString; // fails at once, clearly, without a server
        using (var connection = new MySqlConnection(My.ConnectionString))
        {
            connection.Open();
            using var create = new MySqlCommand($"CREATE DATABASE {riverDatabase}", connection);
            create.ExecuteNonQuery();
        }
        foreach (var tenant in Tenants)
            Fill(tenant, schools, students);
    }

    public Workspace Workspace { get; }
    public string Schema { get; }

    public string RiverConnection => new MySqlConnectionStringBuilder(My.On(riverDatabase)) { Pooling = false }.ConnectionString;

    /// <summary>Runs SQL on a tenant's legacy database.</summary>
    public void Legacy(string tenant, string sql)
    {
        using System.Data.Common.DbConnection connection = tenant == "river"
            ? new MySqlConnection(RiverConnection)
            : new SqliteConnection($"Data Source={Workspace.PathOf(tenant + ".db")};Pooling=False");
        connection.Open();
        foreach (var statement in sql.Split(";\n").Select(s => s.Trim().TrimEnd(';')).Where(s => s.Length > 0))
        {
            using var command = connection.CreateCommand();
            command.CommandText = statement;
            command.ExecuteNonQuery();
        }
    }

    private void Fill(string tenant, int schools, int students)
    {
        var rows = new List<string>
        {
            "CREATE TABLE schools (id INTEGER NOT NULL PRIMARY KEY, name VARCHAR(80) NOT NULL)",
            "CREATE TABLE students (id INTEGER NOT NULL PRIMARY KEY, school_id INTEGER NOT NULL, name VARCHAR(80), born VARCHAR(20))",
        };
        for (var s = 1; s <= schools; s++)
            rows.Add($"INSERT INTO schools VALUES ({s}, '{tenant} school {s}')");
        for (var i = 1; i <= students; i++)
            rows.Add(string.Create(CultureInfo.InvariantCulture,
                $"INSERT INTO students VALUES ({i}, {1 + i % schools}, '{tenant} student {i}', '20{10 + i % 9:00}-0{1 + i % 9}-1{i % 9}')"));
        Legacy(tenant, string.Join(";\n", rows));
    }

    /// <summary>The manifest: student is listed first but depends on school; batches are small, so each tenant has several.</summary>
    public string Manifest(string extraTenantSettings = "", string studentExtra = "") => $$"""
        name: district-consolidation
        tenant_column: district
        {{extraTenantSettings}}
        tenants:
          - id: north
            source: { type: sqlite, connection: "Data Source=north.db" }
          - id: south
            source: { type: sqlite, connection: "Data Source=south.db" }
          - id: river
            source: { type: mysql, connection: "{{RiverConnection}}" }
        target: {{(postgres ? $"{{ type: postgres, connection: \"{Pg.ConnectionString}\", schema: {Schema} }}" : "{ type: sqlite, connection: \"Data Source=target.db\" }")}}
        entities:
          - name: student
            depends_on: [school]
            from: { table: students, key: [id] }
            key: [id]
            batch_size: 5
            {{studentExtra}}
            columns:
              id: { from: id, type: int }
              school_id: { from: school_id, type: int }
              name: name
              born: { from: born, type: date }
          - name: school
            from: { table: schools, key: [id] }
            key: [id]
            batch_size: 3
            columns:
              id: { from: id, type: int }
              name: name
        """;

    public string Write(string yaml) => Workspace.Write("ferry.yaml", yaml);

    public Task<CliResult> Ferry(params string[] args) => Workspace.Ferry(args);

    /// <summary>A target table's rows as text, ordered by tenant and key.</summary>
    public List<string> Dump(string table) => postgres
        ? Pg.Dump(Schema, table, "district, id")
        : Workspace.Query("target.db", $"SELECT * FROM {table} ORDER BY district, id").Select(r => string.Join("|", r.Values)).ToList();

    /// <summary>Rows of a query on the target (PostgreSQL: with the kit's schema first on the search path).</summary>
    public List<Dictionary<string, object?>> Query(string sql) => postgres
        ? Pg.Query(sql.Replace("{schema}", Schema, StringComparison.Ordinal))
        : Workspace.Query("target.db", sql.Replace("{schema}.", "", StringComparison.Ordinal).Replace("ferry.", "ferry_", StringComparison.Ordinal));

    public long Count(string sql) => Convert.ToInt64(Query(sql)[0].Values.First(), CultureInfo.InvariantCulture);

    public void Dispose()
    {
        try
        {
            using var connection = new MySqlConnection(My.ConnectionString);
            connection.Open();
            using var drop = new MySqlCommand($"DROP DATABASE IF EXISTS {riverDatabase}", connection);
            drop.ExecuteNonQuery();
            if (postgres)
                Pg.Execute($"DROP SCHEMA IF EXISTS \"{Schema}\" CASCADE");
        }
        catch (Exception ex) when (ex is MySqlException or Npgsql.NpgsqlException)
        {
            // A database left behind on a throw-away server is not worth failing for.
        }
        Workspace.Dispose();
    }
}

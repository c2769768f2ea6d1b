using System.Data.Common;
using Ferry.Manifest;
using Ferry.Tests.Postgres;
using Ferry.Tests.Support;
using Microsoft.Data.Sqlite;
using MySqlConnector;
using Npgsql;

namespace Ferry.Tests.Sources;

/// <summary>
/// A fresh legacy database of one kind for one test, on a real server (or a real SQLite file),
/// with a workspace beside it for the manifest and target: a SQLite file in the workspace, a
/// schema of its own on the PostgreSQL test server, a database of its own on the MariaDB one.
/// Dropped at the end.
/// </summary>
internal sealed class LegacyDatabase : IDisposable
{
    public const string Sqlite = "sqlite";
    public const string Postgres = "postgres";
    public const string MySql = "mysql";

    /// <summary>The kinds every keyset and value test runs on (SQL Server cannot run here).</summary>
    public static TheoryData<string> Kinds => [Sqlite, Postgres, MySql];

    private readonly string adminConnection;
    private readonly string? scratch;

    public LegacyDatabase(string kind)
    {
        Kind = kind;
        Workspace = new Workspace();
        var name = $"legacy_{Guid.NewGuid():N}"[..23];
        switch (kind)
        {
            case Sqlite:
                ManifestConnection = "Data Source=legacy.db";
                adminConnection = $"Data Source={Workspace.PathOf("legacy.db")};Pooling=False";
                break;
            case Postgres:
                scratch = name;
                Pg.Execute($"CREATE SCHEMA {name}");
                adminConnection = new NpgsqlConnectionStringBuilder(Pg.ConnectionString) { SearchPath = name, Pooling = false }.ConnectionString;
                ManifestConnection = adminConnection;
                break;
            case MySql:
                scratch = name;
                using (var connection = new MySqlConnection(My.ConnectionString))
                {
                    connection.Open();
                    using var create = new MySqlCommand($"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci", connection);
                    create.ExecuteNonQuery();
                }
                adminConnection = new MySqlConnectionStringBuilder(My.On(name)) { Pooling = false }.ConnectionString;
                ManifestConnection = adminConnection;
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, null);
        }
        Environment.SetEnvironmentVariable(Variable, ManifestConnection);
    }

    public string Kind { get; }

    public Workspace Workspace { get; }

    /// <summary>What the manifest's <c>connection</c> says (a SQLite path relative to the manifest).</summary>
    public string ManifestConnection { get; }

    public string ManifestPath => Workspace.PathOf("ferry.yaml");

    /// <summary>Runs SQL statements (separated by ';' at line ends) on the legacy database.</summary>
    public void Execute(string sql)
    {
        using var connection = Open();
        foreach (var statement in sql.Split(";\n").Select(s => s.Trim().TrimEnd(';')).Where(s => s.Length > 0))
        {
            using var command = connection.CreateCommand();
            command.CommandText = statement;
            command.ExecuteNonQuery();
        }
    }

    private DbConnection Open()
    {
        DbConnection connection = Kind switch
        {
            Sqlite => new SqliteConnection(adminConnection),
            Postgres => new NpgsqlConnection(adminConnection),
            _ => new MySqlConnection(adminConnection),
        };
        connection.Open();
        if (Kind == MySql)
        {
            // Legacy data: zero dates and the like are what these tests are about.
            using var mode = connection.CreateCommand();
            mode.CommandText = "SET SESSION sql_mode = ''";
            mode.ExecuteNonQuery();
        }
        return connection;
    }

    /// <summary>
    /// A manifest whose source is this database, with the entity text given (indented under
    /// <c>entities:</c>), written to the workspace and parsed.
    /// </summary>
    public MigrationManifest Manifest(string entities, string sourceExtra = "", string target = "Data Source=target.db")
    {
        var yaml = ManifestText(entities, sourceExtra, target);
        Workspace.Write("ferry.yaml", yaml);
        return ManifestLoader.Parse(yaml, ManifestPath);
    }

    public string ManifestText(string entities, string sourceExtra = "", string target = "Data Source=target.db") =>
        $$"""
        source:
          type: {{Kind}}
          connection: "${{{Variable}}}"
          {{Indent(sourceExtra, 2)}}
        target:
          type: sqlite
          connection: "{{target}}"
        entities:
          {{Indent(entities, 2)}}
        """;

    /// <summary>The environment variable the manifest's connection comes from (set for the test's lifetime): a secret, as a user keeps it.</summary>
    public string Variable { get; } = $"FERRY_LEGACY_{Guid.NewGuid().ToString("N")[..8].ToUpperInvariant()}";

    private static string Indent(string text, int spaces) =>
        string.Join("\n", text.Split('\n').Select((l, i) => i == 0 ? l : new string(' ', spaces) + l));

    public void Dispose()
    {
        Environment.SetEnvironmentVariable(Variable, null);
        try
        {
            if (Kind == Postgres)
                Pg.Execute($"DROP SCHEMA IF EXISTS {scratch} CASCADE");
            else if (Kind == MySql)
            {
                using var connection = new MySqlConnection(My.ConnectionString);
                connection.Open();
                using var drop = new MySqlCommand($"DROP DATABASE IF EXISTS {scratch}", connection);
                drop.ExecuteNonQuery();
            }
        }
        catch (DbException)
        {
            // A scratch schema left on a throw-away server is not worth failing a test for.
        }
        Workspace.Dispose();
    }
}

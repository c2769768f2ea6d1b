using Ferry.Manifest;
using Ferry.Targets.Postgres;
using Npgsql;

namespace Ferry.Tests.Postgres;

/// <summary>The session settings of Ferry's own connections to a real PostgreSQL server.</summary>
public class PgSessionTests
{
    private static MigrationManifest Manifest(string connection) => ManifestLoader.Parse($"""
        source: {"{"} type: csv, path: a.csv {"}"}
        target: {"{"} type: postgres, connection: '{connection.Replace("'", "''", StringComparison.Ordinal)}' {"}"}
        entities:
          - name: a
            table: a
            key: [id]
            columns: {"{"} id: id {"}"}
        """, Path.Combine(Path.GetTempPath(), "ferry.yaml"));

    private static async Task<string> Show(NpgsqlConnection connection, string setting)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT current_setting(@s)";
        command.Parameters.AddWithValue("s", setting);
        return (string)(await command.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task Ferry_s_own_statements_run_without_the_JIT_compiler_and_the_project_s_SQL_with_the_server_s_setting()
    {
        var server = (string)Pg.Scalar("SELECT current_setting('jit')")!;
        Assert.Equal("on", server); // PostgreSQL's default, which scripts/services.sh leaves alone

        await using (var loading = await PostgresTarget.OpenAsync(Manifest(Pg.ConnectionString), CancellationToken.None))
        {
            Assert.Equal("off", await Show(loading, "jit"));
            Assert.Equal("UTC", await Show(loading, "TimeZone"));
        }
        await using (var publishing = await PostgresTarget.OpenAsync(Manifest(Pg.ConnectionString), CancellationToken.None, userSql: true))
            Assert.Equal(server, await Show(publishing, "jit"));

        // Options of the user's own are kept beside it.
        var builder = Pg.Builder();
        builder.Options = "-c work_mem=7MB";
        await using var withOptions = await PostgresTarget.OpenAsync(Manifest(builder.ConnectionString), CancellationToken.None);
        Assert.Equal("off", await Show(withOptions, "jit"));
        Assert.Equal("7MB", await Show(withOptions, "work_mem"));
    }
}

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

    private static async Task<long> PreparedAfterThreeRuns(NpgsqlConnection connection)
    {
        for (var i = 0; i < 3; i++)
        {
            await using var repeated = connection.CreateCommand();
            repeated.CommandText = "SELECT count(*) FROM pg_class WHERE relname = @name";
            repeated.Parameters.AddWithValue("name", "ferry-" + i);
            await repeated.ExecuteScalarAsync();
        }
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%relname = $1%'";
        return (long)(await command.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task A_statement_sent_again_is_kept_prepared_unless_the_connection_string_says_otherwise()
    {
        // A run sends the same statements for every batch: the server parses and plans them once.
        await using (var loading = await PostgresTarget.OpenAsync(Manifest(Pg.ConnectionString), CancellationToken.None))
            Assert.Equal(1, await PreparedAfterThreeRuns(loading));

        // Behind a pooler that cannot keep prepared statements, the user turns it off.
        var off = Pg.Builder();
        off.MaxAutoPrepare = 0;
        Assert.Contains("Max Auto Prepare=0", off.ConnectionString, StringComparison.OrdinalIgnoreCase);
        await using (var unprepared = await PostgresTarget.OpenAsync(Manifest(off.ConnectionString), CancellationToken.None))
            Assert.Equal(0, await PreparedAfterThreeRuns(unprepared));
        await using (var spelledOff = await PostgresTarget.OpenAsync(Manifest(Pg.ConnectionString + ";maxautoprepare=0"), CancellationToken.None))
            Assert.Equal(0, await PreparedAfterThreeRuns(spelledOff));

        // A user's own threshold is kept: a statement sent three times, to be prepared at the fifth, is not yet.
        await using (var later = await PostgresTarget.OpenAsync(Manifest(Pg.ConnectionString + ";Auto Prepare Min Usages=5"), CancellationToken.None))
            Assert.Equal(0, await PreparedAfterThreeRuns(later));
    }

    [Fact]
    public async Task A_connection_gathers_a_COPY_chunk_before_sending_it_unless_the_connection_string_sets_its_own_buffer()
    {
        // BinaryCopyWriter hands Npgsql 64 KB at a time: with Npgsql's default 8 KB buffer each chunk went out as four sends.
        await using (var loading = await PostgresTarget.OpenAsync(Manifest(Pg.ConnectionString), CancellationToken.None))
            Assert.Equal(PostgresTarget.WriteBuffer, new NpgsqlConnectionStringBuilder(loading.ConnectionString).WriteBufferSize);

        await using (var own = await PostgresTarget.OpenAsync(Manifest(Pg.ConnectionString + ";Write Buffer Size=16384"), CancellationToken.None))
        {
            Assert.Equal(16384, new NpgsqlConnectionStringBuilder(own.ConnectionString).WriteBufferSize);
            await using var command = own.CreateCommand();
            command.CommandText = "SELECT 1";
            Assert.Equal(1, await command.ExecuteScalarAsync());
        }
    }
}

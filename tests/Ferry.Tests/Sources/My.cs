using MySqlConnector;

namespace Ferry.Tests.Sources;

/// <summary>
/// The MariaDB server the tests run against: the one <c>scripts/test.sh</c> starts and names in
/// <c>FERRY_TEST_MYSQL</c>. Without it these tests fail (never skip): a green suite must mean
/// MariaDB was tested.
/// </summary>
internal static class My
{
    public const string Variable = "FERRY_TEST_MYSQL";

    private static readonly Lazy<(string? ConnectionString, string? Problem)> Server = new(Probe);

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
            return (null, $"{Variable} is not set, so there is no MariaDB server to test against. Run the tests with scripts/test.sh, " +
                "which starts a private MariaDB on 127.0.0.1 and exports it (or source scripts/services.sh and call start_mariadb).");
        try
        {
            using var connection = new MySqlConnection(new MySqlConnectionStringBuilder(value) { ConnectionTimeout = 10, Pooling = false }.ConnectionString);
            connection.Open();
            return (value, null);
        }
        catch (Exception ex) when (ex is MySqlException or ArgumentException or TimeoutException)
        {
            return (null, $"the MariaDB server named by {Variable} is unreachable: {ex.Message}. " +
                "Run the tests with scripts/test.sh, which starts a private MariaDB on 127.0.0.1 and exports FERRY_TEST_MYSQL.");
        }
    }

    /// <summary>The connection string with another database.</summary>
    public static string On(string database) => new MySqlConnectionStringBuilder(ConnectionString) { Database = database }.ConnectionString;
}

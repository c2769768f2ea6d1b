using System.Data.Common;
using System.Globalization;
using Microsoft.Data.SqlClient;

namespace Ferry.Sources.Database;

/// <summary>
/// SQL Server through Microsoft.Data.SqlClient. It has no row comparison, so a composite key pages
/// with the condition spelt out, and <c>TOP</c> / <c>OFFSET … FETCH</c> in place of LIMIT.
/// Untested against a live server (none runs on these machines): its SQL is unit-tested only.
/// </summary>
public sealed class SqlServerDialect : ISqlDialect
{
    public static readonly SqlServerDialect Instance = new();

    public string Name => "sqlserver";

    public DbConnection CreateConnection(string connectionString, string manifestDirectory) =>
        new SqlConnection(new SqlConnectionStringBuilder(connectionString).ConnectionString);

    public string Quote(string identifier) => $"[{identifier.Replace("]", "]]", StringComparison.Ordinal)}]";

    public string Parameter(int index) => "@p" + index.ToString(CultureInfo.InvariantCulture);

    public string Page(KeysetQuery query, bool afterCursor, int size) =>
        $"SELECT TOP ({size.ToString(CultureInfo.InvariantCulture)}) {query.Select} FROM {query.From}{(afterCursor ? " WHERE " + query.ExpandedAfter(this) : "")} ORDER BY {query.OrderBy}";

    public string KeyAt(KeysetQuery query, long offset) =>
        $"SELECT {query.OrderBy} FROM {query.From} ORDER BY {query.OrderBy} OFFSET {offset.ToString(CultureInfo.InvariantCulture)} ROWS FETCH NEXT 1 ROWS ONLY";

    /// <summary>A varchar's bytes in its column's code page (an nvarchar's in UTF-16).</summary>
    public string StoredBytes(string column) => $"CAST({column} AS VARBINARY(MAX))";

    public object GetValue(DbDataReader reader, int ordinal) => reader.GetValue(ordinal);
}

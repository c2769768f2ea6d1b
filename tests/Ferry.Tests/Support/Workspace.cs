using Microsoft.Data.Sqlite;

namespace Ferry.Tests.Support;

/// <summary>
/// A temporary folder for one test: write the manifest and data files into it, run the real CLI
/// against them, and query the SQLite target it produced. Deleted when the test ends.
/// </summary>
public sealed class Workspace : IDisposable
{
    public Workspace()
    {
        Root = Path.Combine(Path.GetTempPath(), "ferry-tests", Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Root);
    }

    public string Root { get; }

    public string PathOf(string relative) => Path.Combine(Root, relative);

    /// <summary>Writes a text file (UTF-8, no BOM) and returns its full path.</summary>
    public string Write(string relative, string content)
    {
        var path = PathOf(relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content, new System.Text.UTF8Encoding(false));
        return path;
    }

    public string WriteBytes(string relative, byte[] content)
    {
        var path = PathOf(relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, content);
        return path;
    }

    /// <summary>Runs <c>ferry</c> in-process with these arguments, its working folder being this workspace.</summary>
    public Task<CliResult> Ferry(params string[] args) => CliRunner.RunAsync(Root, args);

    /// <summary>Rows of a query against a SQLite database in the workspace, each as column → value.</summary>
    public List<Dictionary<string, object?>> Query(string database, string sql)
    {
        using var connection = new SqliteConnection($"Data Source={PathOf(database)};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        using var reader = command.ExecuteReader();
        var rows = new List<Dictionary<string, object?>>();
        while (reader.Read())
        {
            var row = new Dictionary<string, object?>();
            for (var i = 0; i < reader.FieldCount; i++)
                row[reader.GetName(i)] = reader.IsDBNull(i) ? null : reader.GetValue(i);
            rows.Add(row);
        }
        return rows;
    }

    public object? Scalar(string database, string sql) => Query(database, sql).FirstOrDefault()?.Values.FirstOrDefault();

    /// <summary>A SHA-256 of every table's full contents, to prove a target was left exactly as it was.</summary>
    public string Fingerprint(string database)
    {
        if (!File.Exists(PathOf(database)))
            return "(no file)";
        var tables = Query(database, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").Select(r => (string)r["name"]!);
        var text = new System.Text.StringBuilder();
        foreach (var table in tables)
        {
            text.Append(table).Append('\n');
            foreach (var row in Query(database, $"SELECT * FROM \"{table}\" ORDER BY rowid"))
                text.Append(string.Join('\u001F', row.Select(p => $"{p.Key}={p.Value}"))).Append('\n');
        }
        return Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text.ToString())));
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // A file still open on a slow CI machine is not worth failing a test for.
        }
    }
}
